"""Private names of Hydra and MLflow (and private attributes of any other library's
objects) are used only in their fence modules, and the names those modules use still
exist in the installed Hydra and MLflow. Keras's fence is checked on a real model in
tests/unit/training/fused/test_fused_steps.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from imdb_sweep.config.hydra_internals import check_hydra_internals
from imdb_sweep.tracking.mlflow_internals import check_mlflow_internals
from tests.helpers.paths import PROJECT_ROOT

# The package: imdb_sweep/ and our Hydra plugin.
PACKAGE_FOLDERS = (PROJECT_ROOT / "imdb_sweep", PROJECT_ROOT / "hydra_plugins")
# The one module each library's private names may be used in.
FENCES = {
    "hydra": "imdb_sweep/config/hydra_internals.py",
    "mlflow": "imdb_sweep/tracking/mlflow_internals.py",
    "keras": "imdb_sweep/training/fused/keras_internals.py",
}
# The hydra.core modules that Hydra's own plugins are written against: public.
PUBLIC_HYDRA_CORE = {"config_store", "hydra_config", "plugins", "override_parser", "utils"}
# Private attributes of other libraries' objects, used where they are, each with its reason.
UNFENCED_ATTRIBUTES = {
    # search/trials.py: optuna.Trial(study, trial_id) takes a FrozenTrial's storage id, which
    # Optuna keeps private. Optuna's private names have no fence of their own (yet).
    "_trial_id": "optuna",
}
DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_library(dotted: str) -> str | None:
    """'hydra' or 'mlflow' when `dotted` (a module, an imported name, a `_target_`
    string) is a private name of that library; None otherwise."""
    parts = dotted.split(".")
    library = {"hydra": "hydra", "hydra_plugins": "hydra", "mlflow": "mlflow"}.get(parts[0])
    if library is None or parts[:2] == ["hydra_plugins", "imdb_sweep_optuna"]:  # our own plugin
        return None
    if any(is_private(part) for part in parts[1:]):
        return library
    if parts[:2] == ["hydra", "core"] and len(parts) > 2 and parts[2] not in PUBLIC_HYDRA_CORE:
        return library
    if parts[:2] == ["mlflow", "store"]:  # the stores behind MlflowClient
        return library
    return None


def dotted_name(node: ast.expr) -> str | None:
    """`mlflow.tracking._x` for the attribute chain that spells it; None when the chain
    does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def private_uses(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, library, name) of each private name used in a module's tree; the library
    of a private attribute of an object is told by UNFENCED_ATTRIBUTES, else 'an object'."""
    uses = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED_NAME.fullmatch(node.value):
            names = [node.value]
        elif isinstance(node, ast.Attribute):
            names = [name] if (name := dotted_name(node)) else []
            receiver = node.value.id if isinstance(node.value, ast.Name) else None
            if is_private(node.attr) and receiver not in ("self", "cls") and not private_library(name or ""):
                uses.append((node.lineno, UNFENCED_ATTRIBUTES.get(node.attr, "an object"), f".{node.attr}"))
        uses += [(node.lineno, library, name) for name in names if (library := private_library(name))]
    return sorted(set(uses))


def package_modules() -> list[Path]:
    return sorted(path for folder in PACKAGE_FOLDERS for path in folder.rglob("*.py"))


def test_private_names_are_used_only_in_their_fence_module():
    outside = []
    for path in package_modules():
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        for line, library, name in private_uses(ast.parse(path.read_text(), relative)):
            fenced_here = relative == FENCES.get(library) or (library == "an object" and relative in FENCES.values())
            if not fenced_here and library not in UNFENCED_ATTRIBUTES.values():
                outside.append(f"{relative}:{line} uses {library}'s private {name} "
                               f"(move it into {FENCES.get(library, 'the fence module of its library')})")
    assert outside == []


def test_each_fence_is_where_its_private_names_are():
    used = {library for path in package_modules() for _, library, _ in private_uses(ast.parse(path.read_text()))}
    assert {"hydra", "mlflow"} <= used  # else a fence is empty and this check looks at nothing
    assert all((PROJECT_ROOT / fence).is_file() for fence in FENCES.values())


@pytest.mark.parametrize(("source", "expected"), [
    ("from hydra._internal.utils import _locate", {"hydra"}),
    ("from hydra.core.global_hydra import GlobalHydra", {"hydra"}),
    ("from hydra.core.config_store import ConfigStore", set()),
    ("from hydra.core.override_parser.types import RangeSweep", set()),
    ("import hydra_plugins.hydra_ray_launcher._config", {"hydra"}),
    ("from hydra_plugins.imdb_sweep_optuna.optuna_sweeper import register", set()),
    ("TARGET = 'hydra._internal.core_plugins.basic_sweeper.BasicSweeper'", {"hydra"}),
    ("from mlflow.store.db.utils import _get_latest_schema_revision", {"mlflow"}),
    ("from mlflow.tracking import MlflowClient", set()),
    ("import mlflow\nmlflow.tracking._tracking_service.utils.get_tracking_uri()", {"mlflow"}),
    ("entity = dataset._to_mlflow_entity()", {"an object"}),
    ("self._study = None\nname = type(x).__name__", set()),
], ids=["hydra._internal", "GlobalHydra", "ConfigStore", "override_parser", "a plugin's _config", "our plugin",
        "a _target_ string", "mlflow.store", "MlflowClient", "mlflow.tracking._x", "an object's _x", "our own _x"])
def test_the_scan_tells_private_names_from_public_ones(source, expected):
    assert {library for _, library, _ in private_uses(ast.parse(source))} == expected


def test_the_fenced_hydra_names_still_exist():
    check_hydra_internals()


def test_the_fenced_mlflow_names_still_exist(tmp_path):
    check_mlflow_internals(tmp_path)
