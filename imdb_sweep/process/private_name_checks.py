"""Running a fence module's checks of the private library names it uses
(config/hydra_internals.py, tracking/mlflow_internals.py): one rule for what a
failed check says, so every fence reports a moved name the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def run_private_name_checks(library: str, fence_module: str, checks: Mapping[str, Callable[[], bool]]) -> None:
    """Call each check; raise RuntimeError naming the first private name that is gone
    or no longer behaves as expected. `library`: its name and version, as said
    (`MLflow 3.18.0`); `fence_module`: the file to update."""
    for name, check in checks.items():
        try:
            passed = check()
        except (AttributeError, ImportError, TypeError, ValueError) as error:
            passed, reason = False, f"{type(error).__name__}: {error}"
        else:
            reason = "it no longer behaves as expected"
        if not passed:
            raise RuntimeError(f"{library} changed {name}, which imdb_sweep uses ({reason}). "
                               f"Update {fence_module}.")
