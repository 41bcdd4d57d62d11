"""The package's imports flow one way (tools/import_graph.py): no cycles, only down the layers;
report/ only reads MLflow; and no test module imports another."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import import_graph  # a script beside the project, not a package


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


def test_the_cycle_finder_finds_a_cycle():
    assert import_graph.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_test_module_imports_another():
    """Shared builders live in tests/helpers/ and fixtures in conftest.py: a test module
    importing another (or conftest) would run, or break on, that module's own tests."""
    tests_folder = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests_folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                       else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for module in modules:
                parts = module.split(".")
                if parts[0] == "tests" and len(parts) > 1 and (parts[1] == "conftest" or parts[1].startswith("test_")):
                    offenders.append(f"{path.relative_to(tests_folder)} imports {module}")
    assert offenders == []


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
