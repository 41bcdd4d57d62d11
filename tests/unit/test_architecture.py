"""The package's imports flow one way (tools/import_graph.py): no cycles, only down the layers;
report/ only reads MLflow; no test module imports another; tests/unit/ mirrors the package and
every test folder is a package."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from tests.helpers.paths import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tools"))

import import_graph  # a script beside the project, not a package
from tests.helpers.paths import PROJECT_ROOT


def test_no_module_imports_itself_through_others():
    assert import_graph.find_cycle(import_graph.module_imports()) is None


def test_every_part_is_in_a_layer_and_imports_only_lower_layers():
    graph = import_graph.module_imports()
    parts = {import_graph.part_of(module) for module in graph}
    assert parts == set(import_graph.LAYERS), "a new folder needs its place in LAYERS"
    upward = [
        f"{source} imports {target}"
        for source, targets in import_graph.part_imports(graph).items()
        for target in targets
        if source in import_graph.LAYERS and import_graph.LAYERS.index(target) > import_graph.LAYERS.index(source)
    ]
    assert upward == []


def test_architecture_md_shows_the_current_import_graph():
    page = (PROJECT_ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    graph = import_graph.mermaid(import_graph.part_imports(import_graph.module_imports()))
    assert f"```mermaid\n{graph}\n```" in page, (
        "ARCHITECTURE.md's import graph is not the current one: paste the output of "
        "`python tools/import_graph.py --mermaid` over it")


def test_architecture_md_describes_every_layer_in_order():
    page = (PROJECT_ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = page.split("| part | what it holds |", 1)[1].split("\n\n", 1)[0]
    described = [name for line in table.splitlines()[2:] for name in re.findall(r"`([^`]+)`", line.split("|")[1])]
    assert described == list(import_graph.LAYERS), (
        "ARCHITECTURE.md's table of parts must name tools/import_graph.py's LAYERS, lowest first")


def test_the_cycle_finder_finds_a_cycle():
    assert import_graph.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_test_module_imports_another():
    """Shared builders live in tests/helpers/ and fixtures in conftest.py: a test module
    importing another (or conftest) would run, or break on, that module's own tests."""
    tests_folder = PROJECT_ROOT / "tests"
    offenders = []
    for path in sorted(tests_folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                       else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for module in modules:
                parts = module.split(".")  # tests.unit.data.test_cache, tests.conftest, ...
                if parts[0] == "tests" and any(part == "conftest" or part.startswith("test_") for part in parts[1:]):
                    offenders.append(f"{path.relative_to(tests_folder)} imports {module}")
    assert offenders == []


def folders_under(folder: Path) -> list[Path]:
    """Every folder below `folder`, caches aside."""
    return [path for path in folder.rglob("*") if path.is_dir()
            and not any(part == "__pycache__" or part.startswith(".") for part in path.relative_to(folder).parts)]


def test_unit_test_folders_mirror_the_package():
    """tests/unit/<folder>/ holds the tests of imdb_sweep/<folder>/; end-to-end scenarios live in tests/e2e/."""
    unit = PROJECT_ROOT / "tests" / "unit"
    folders = [path.relative_to(unit).as_posix() for path in folders_under(unit)]
    assert folders, "tests/unit/ has no package folders"
    assert [folder for folder in folders if not (PROJECT_ROOT / "imdb_sweep" / folder).is_dir()] == []


def test_every_test_folder_is_a_package():
    """pytest names a test module by its packages (tests.unit.search.test_search, tests.e2e.test_search):
    a folder without __init__.py would give two same-named modules one name."""
    tests_folder = PROJECT_ROOT / "tests"
    assert [folder.relative_to(PROJECT_ROOT).as_posix() for folder in [tests_folder, *folders_under(tests_folder)]
            if not (folder / "__init__.py").is_file()] == []
# MlflowClient's and mlflow's calls that write to a tracking store or the model registry.
MLFLOW_WRITES = {
    "create_run", "start_run", "end_run", "set_terminated", "update_run", "delete_run", "set_tag", "set_tags",
    "log_metric", "log_metrics", "log_param", "log_params", "log_batch", "log_artifact", "log_artifacts",
    "log_dict", "log_text", "log_figure", "log_input", "log_inputs", "create_experiment",
    "create_registered_model", "create_model_version", "set_registered_model_alias", "set_model_version_tag",
}


def writes_to_mlflow(path: Path) -> list[str]:
    """`path:line name` for each call in `path` of a method named as an MLflow write."""
    return [f"{path.name}:{node.lineno} {node.func.attr}" for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MLFLOW_WRITES]


def test_the_report_only_reads_mlflow():
    """Publishing a report on a parent run is sweep/publishing.py, registering the winner registry.py."""
    report = import_graph.PACKAGE_ROOT / "report"
    assert [write for path in sorted(report.rglob("*.py")) for write in writes_to_mlflow(path)] == []


def test_the_write_finder_finds_a_write(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("client.get_run(run_id)\nclient.set_tag(run_id, 'key', 'value')\n")
    assert writes_to_mlflow(module) == ["module.py:2 set_tag"]
