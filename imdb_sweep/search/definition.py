"""What defines a search, kept in its study, so that a worker can join it by name.

The worker that creates a study stores its definition there (a user attribute):
the search space and the fixed overrides that change what is trained, the
objective, the sampler and the pruner. A worker on another machine then joins with

    python -m imdb_sweep -m hydra/sweeper=imdb_optuna hydra.sweeper.storage=URL hydra.sweeper.study_name=NAME

and gets all of it from the study; its own overrides may only say where and how it
runs (tracking.*, runtime.threads, ..., config/identity.py). A command that names an
existing study and gives a search of its own must give the study's: any difference
is refused, each one shown, before any run is made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from imdb_sweep import contract
from imdb_sweep.config.identity import affects_training, override_key


@dataclass(frozen=True)
class SearchDefinition:
    # The space and the fixed overrides that change what is trained, as overrides
    # (hydra.sweeper.params first, then the command line's), in order.
    arguments: list[str]
    conditional_params: dict[str, dict[str, str]]
    objective: str
    direction: str
    sampler: dict[str, Any]
    pruner: str
    pruner_config: dict[str, Any] | None
    custom_search_space: str | None
    n_trials: int
    # The keys of `arguments` as Optuna distributions (JSON), to compare spaces
    # whatever spelling gave them (`choice(16,32)` or `16,32`).
    distributions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @staticmethod
    def from_json(text: str) -> SearchDefinition:
        return SearchDefinition(**json.loads(text))

    def differences(self, other: SearchDefinition) -> list[str]:
        """How `other` (this command's search) differs from this one (the study's), one line each."""
        lines = [f"{key}: the study searches {mine}, this command {theirs}"
                 for key, mine, theirs in _space_differences(self, other)]
        for name in ("conditional_params", "objective", "direction", "sampler", "pruner", "pruner_config",
                     "custom_search_space"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if _canonical(mine) != _canonical(theirs):
                lines.append(f"hydra.sweeper.{name}: the study's is {mine}, this command's {theirs}")
        return lines


def training_arguments(arguments: list[str]) -> list[str]:
    """The overrides that change what is trained (the search's own)."""
    return [argument for argument in arguments if affects_training(override_key(argument))]


def placement_arguments(arguments: list[str]) -> list[str]:
    """The overrides that only say where and how a job runs (this worker's own)."""
    return [argument for argument in arguments if not affects_training(override_key(argument))]


def stored_definition(study_user_attrs: Mapping[str, Any]) -> SearchDefinition | None:
    text = study_user_attrs.get(contract.STUDY_DEFINITION)
    return SearchDefinition.from_json(text) if text else None


def _space_differences(stored: SearchDefinition, given: SearchDefinition) -> list[tuple[str, str, str]]:
    """(key, the study's, this command's) for each key searched or fixed differently."""
    def by_key(definition: SearchDefinition) -> dict[str, tuple[str, str]]:
        entries = {}
        for argument in definition.arguments:
            key = override_key(argument)
            shown = argument.partition("=")[2] if "=" in argument else argument
            canonical = definition.distributions.get(argument.split("=", 1)[0], shown)
            entries[key] = (canonical, shown)
        return entries

    mine, theirs = by_key(stored), by_key(given)
    differences = []
    for key in dict.fromkeys([*mine, *theirs]):
        if key not in theirs:
            differences.append((key, mine[key][1], "does not give it"))
        elif key not in mine:
            differences.append((key, "nothing (the key is not part of its search)", theirs[key][1]))
        elif mine[key][0] != theirs[key][0]:
            differences.append((key, mine[key][1], theirs[key][1]))
    return differences


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# How long a worker joining by name waits for a study's creator to store its definition
# (it stores it right after creating the study).
DEFINITION_WAIT_SECONDS = 30.0


def study_definition(storage: Any, study_name: str, wait_seconds: float = 0.0) -> tuple[bool, SearchDefinition | None]:
    """(whether the study exists in `storage`, its stored definition or None)."""
    import time

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            study_id = storage.get_study_id_from_name(study_name)
        except KeyError:
            return False, None
        definition = stored_definition(storage.get_study_user_attrs(study_id))
        if definition is not None or time.monotonic() >= deadline:
            return True, definition
        time.sleep(0.5)
