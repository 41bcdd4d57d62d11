"""What a search optimizes: one validation metric that every job logs, and how
its value stands after each epoch (what a pruner compares).

The test set is reported, never optimized: no test metric is offered here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imdb_sweep import contract
from imdb_sweep.config.schema.sweeper import DIRECTION_ALLOWED
from imdb_sweep.training.epoch_rule import EpochRule


@dataclass(frozen=True)
class ObjectiveMetric:
    name: str
    epoch_key: str  # the per-epoch Keras metric it is made of
    best_of_epochs: bool  # True: the best epoch so far; False: the latest epoch
    direction: str  # its own direction (contract.METRIC_DIRECTIONS)

    def value_after(self, epoch_values: Sequence[float], direction: str) -> float:
        """The objective if training stopped after the last of `epoch_values`."""
        if not self.best_of_epochs:
            return float(epoch_values[-1])
        return float(max(epoch_values) if direction == contract.MAXIMIZE else min(epoch_values))

    def epoch_rule(self, direction: str) -> EpochRule:
        """The epoch this metric's value comes from, going `direction`: whose weights a
        job of a search ranked by it logs."""
        return EpochRule(self.epoch_key, self.best_of_epochs, maximize=direction == contract.MAXIMIZE)


# How each of contract.OBJECTIVE_METRICS (summary metrics every job logs,
# training/fit.py TrainingResult) is made of its per-epoch metric.
_MADE_OF = {
    contract.BEST_VAL_ACCURACY: (contract.VAL_ACCURACY, True),
    contract.FINAL_VAL_ACCURACY: (contract.VAL_ACCURACY, False),
    contract.BEST_VAL_LOSS: (contract.VAL_LOSS, True),
    contract.FINAL_VAL_LOSS: (contract.VAL_LOSS, False),
}
OBJECTIVES = {name: ObjectiveMetric(name, *_MADE_OF[name], contract.direction_of(name))
              for name in contract.OBJECTIVE_METRICS}


def direction_problems(metric: object, direction: object, hydra_direction: object = None
                       ) -> tuple[str, list[str]]:
    """hydra.sweeper.objective checked: (the direction the search optimizes in, why not
    allowed). `hydra_direction` is hydra.sweeper.direction, Hydra's Optuna sweeper's name
    for objective.direction (there a list means several objectives). A direction must be
    the metric's own: minimizing an accuracy or maximizing a loss picks the worst
    models, which no search is for (Hydra's sweeper minimizes by default: a config
    copied from it would otherwise search for the worst models)."""
    problems = []  # A metric not in OBJECTIVES: said by its schema (config/schema/sweeper.py).
    if isinstance(hydra_direction, (list, tuple)) and len(hydra_direction) == 1:
        hydra_direction = hydra_direction[0]
    if isinstance(hydra_direction, (list, tuple)):
        problems.append(f"hydra.sweeper.direction = {list(hydra_direction)!r} is not allowed: a search optimizes "
                        "one objective, hydra.sweeper.objective.metric (multi-objective searches are not offered: "
                        "Optuna cannot prune them, and a search is ranked and its winner chosen by one "
                        "validation metric)")
        hydra_direction = None
    given = {key: value for key, value in (("hydra.sweeper.objective.direction", direction),
                                           ("hydra.sweeper.direction", hydra_direction)) if value is not None}
    for key, value in given.items():
        if value not in contract.DIRECTIONS:
            problems.append(f"{key} = {value!r} is not allowed: expected {DIRECTION_ALLOWED}")
    if len(set(given.values())) > 1:
        problems.append(f"hydra.sweeper.direction = {hydra_direction!r} and hydra.sweeper.objective.direction = "
                        f"{direction!r} disagree: give one (hydra.sweeper.direction is Hydra's Optuna sweeper's "
                        "name for objective.direction)")
    if problems or metric not in OBJECTIVES:
        return "", problems
    own = OBJECTIVES[metric].direction
    for key, value in given.items():
        if value != own:
            same_way = ", ".join(name for name, objective in OBJECTIVES.items() if objective.direction == value)
            problems.append(f"{key} = {value!r} is not allowed with hydra.sweeper.objective.metric={metric}, which "
                            f"a search must {own}: to {value} instead, search on {same_way} "
                            f"(hydra.sweeper.objective.metric=...)")
            break
    return own, problems
