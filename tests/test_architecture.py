"""The package's imports flow one way (tools/import_graph.py): no cycles, only down the layers."""

from __future__ import annotations

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
