"""Size figures of the package at a git revision, read from the source (nothing is imported).

    python tools/code_stats.py              # the working tree
    python tools/code_stats.py 18f2401      # a revision
    python tools/code_stats.py 18f2401 --json

The package is imdb_sweep/ and hydra_plugins/. Figures: its modules and lines; its
functions (every def, methods and nested ones included, counted from the `def` line to
the function's last line) with their median length and the five largest; and, for each
shared name of imdb_sweep/contract.py (a module-level string: tag, metric, trial or
study attribute, ...; one entry per value), the places the package spells it as a literal: a string literal
that is the name (docstrings aside), or one that holds it as `tags.<name>`,
`metrics.<name>` or `params.<name>` (an MLflow search filter). The names come from the
working tree's contract.py (--names-from another revision), so a revision from before
contract.py existed is counted on the same names.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FOLDERS = ("imdb_sweep", "hydra_plugins")
CONTRACT = "imdb_sweep/contract.py"
LARGEST = 5


@dataclass(frozen=True)
class Function:
    name: str  # module:Class.function
    lines: int


def package_sources(revision: str | None) -> dict[str, str]:
    """{path relative to the checkout: source} of the package's .py files at `revision`
    (None: the working tree, untracked files included)."""
    if revision is None:
        return {path.relative_to(ROOT).as_posix(): path.read_text()
                for folder in PACKAGE_FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))
                if "__pycache__" not in path.parts}
    listing = git("ls-tree", "-r", "--name-only", revision, "--", *PACKAGE_FOLDERS)
    return {path: git("show", f"{revision}:{path}") for path in listing.splitlines() if path.endswith(".py")}


def git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def functions(path: str, tree: ast.Module) -> list[Function]:
    module = path.removesuffix(".py").replace("/", ".")
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append(Function(f"{module}:{name}", child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def shared_names(contract_source: str) -> dict[str, str]:
    """{constants: value} of the module-level string constants of contract.py; constants
    of one value (a tag that is also a study attribute) share one entry, `A/B`."""
    constants_of: dict[str, list[str]] = {}
    for node in ast.parse(contract_source).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            constants_of.setdefault(node.value.value, []).append(node.targets[0].id)
    return {"/".join(constants): value for value, constants in constants_of.items()}


def string_literals(tree: ast.Module) -> list[str]:
    """Every string literal of a module but its docstrings (f-strings' literal parts included)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def spellings(value: str, literals: list[str]) -> int:
    in_filter = re.compile(rf"\b(tags|metrics|params)\.{re.escape(value)}(?![\w.])")
    return sum(1 for literal in literals if literal == value or (literal != value and in_filter.search(literal)))


def code_stats(revision: str | None, names_from: str | None) -> dict:
    sources = package_sources(revision)
    trees = {path: ast.parse(source, path) for path, source in sources.items()}
    all_functions = [function for path, tree in trees.items() for function in functions(path, tree)]
    literals = [literal for tree in trees.values() for literal in string_literals(tree)]
    contract_source = (ROOT / CONTRACT).read_text() if names_from is None else git("show", f"{names_from}:{CONTRACT}")
    counts = {constant: spellings(value, literals) for constant, value in shared_names(contract_source).items()}
    largest = sorted(all_functions, key=lambda function: (-function.lines, function.name))[:LARGEST]
    return {
        "revision": revision or "working tree",
        "modules": len(sources),
        "lines": sum(len(source.splitlines()) for source in sources.values()),
        "functions": len(all_functions),
        "median_function_lines": statistics.median(function.lines for function in all_functions),
        "largest_functions": [{"name": function.name, "lines": function.lines} for function in largest],
        "shared_name_spellings": counts,
        "shared_names_spelled_more_than_once": sum(1 for count in counts.values() if count > 1),
        "shared_name_spellings_total": sum(counts.values()),
    }


def as_text(stats: dict) -> str:
    lines = [f"revision: {stats['revision']}",
             f"modules: {stats['modules']}, lines: {stats['lines']}",
             f"functions: {stats['functions']}, median length: {stats['median_function_lines']:g} lines",
             f"the {LARGEST} largest functions:"]
    lines += [f"  {function['lines']:>4}  {function['name']}" for function in stats["largest_functions"]]
    counts = stats["shared_name_spellings"]
    lines.append(f"shared names of {CONTRACT} spelled as literals: {stats['shared_name_spellings_total']} places "
                 f"for {len(counts)} names, {stats['shared_names_spelled_more_than_once']} of them "
                 "in more than one place")
    lines += [f"  {count:>3}  {constant}" for constant, count in sorted(counts.items(), key=lambda item: -item[1])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", help="a git revision (default: the working tree)")
    parser.add_argument("--names-from", help="the revision whose contract.py names the shared names "
                                             "(default: the working tree)")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    stats = code_stats(arguments.revision, arguments.names_from)
    print(json.dumps(stats, indent=2) if arguments.json else as_text(stats))


if __name__ == "__main__":
    main()
