"""The import graph of the imdb_sweep package, read from the source (nothing is imported).

    python tools/import_graph.py            # package-level edges, as text
    python tools/import_graph.py --mermaid  # the same as a Mermaid flowchart (ARCHITECTURE.md)
    python tools/import_graph.py --modules  # module-level edges

Every import counts, including those inside functions (the job imports Keras
late, but it still depends on it). tests/unit/test_architecture.py checks that the
graph has no cycles and that imports only go down LAYERS.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "imdb_sweep"

# Lowest first: a part may import the parts before it, never the ones after.
# `imdb_sweep` is the package's own __init__ (its version and environment defaults);
# `contract` the names processes share, which every part may read.
# Data flows config -> data -> training -> tracking; serving (the logged text
# model) stands on data alone, as it must load without the rest; models (the
# families' builders, below training, which compiles and fits them) carries the
# layers a logged model may need, imported by name; job_inputs checks a job's
# config, data and custom builder for the job and for the sweeps that launch it;
# the report only reads MLflow; the registry registers the run the report ranks
# first; a sweep's parent run (sweep) is what a search builds on; the job answers a
# search's trial; sync sends what jobs spooled while the server was away. An entry
# point (a `__main__` module, wherever it lives) is in the top layer: it only wires
# parts together.
LAYERS = ("imdb_sweep", "contract", "process", "console", "config", "data", "serving", "models", "training",
          "job_inputs", "tracking", "report", "registry", "sweep", "search", "job", "sync", "server", "__main__")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports() -> dict[str, set[str]]:
    """{module: the imdb_sweep modules it imports}."""
    modules = {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("imdb_sweep"):
                for alias in node.names:  # `from imdb_sweep import contract` imports a module
                    candidate = f"{node.module}.{alias.name}"
                    imported.add(candidate if candidate in modules else node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name.startswith("imdb_sweep")}
        graph[name] = {module for module in imported if module != name and module in modules}
    return graph


def part_of(module: str) -> str:
    """`imdb_sweep.training.fused.model` -> `training`; `imdb_sweep` -> `imdb_sweep`;
    `imdb_sweep.report.__main__` -> `__main__`."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "__main__"
    return parts[1] if len(parts) > 1 else parts[0]


def part_imports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    parts: dict[str, set[str]] = defaultdict(set)
    for module, imported in graph.items():
        for target in imported:
            if part_of(target) != part_of(module):
                parts[part_of(module)].add(part_of(target))
    return parts


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def mermaid(parts: dict[str, set[str]]) -> str:
    lines = ["flowchart BT"]
    for source in sorted(parts):
        lines += [f"    {source.strip('_')} --> {target.strip('_')}" for target in sorted(parts[source])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mermaid", action="store_true")
    parser.add_argument("--modules", action="store_true")
    arguments = parser.parse_args()
    graph = module_imports()
    if arguments.modules:
        for module in sorted(graph):
            print(f"{module} -> {', '.join(sorted(graph[module])) or '(nothing of ours)'}")
        return
    parts = part_imports(graph)
    if arguments.mermaid:
        print(mermaid(parts))
        return
    for part in sorted(parts, key=lambda name: LAYERS.index(name) if name in LAYERS else -1):
        print(f"{part:>10} -> {', '.join(sorted(parts[part], key=LAYERS.index))}")


if __name__ == "__main__":
    main()
