"""The package's imports flow one way (tools/import_graph.py): no cycles, only down the layers;
and no test module imports another."""

from __future__ import annotations

import ast
import sys

from tests.helpers.paths import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tools"))

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
