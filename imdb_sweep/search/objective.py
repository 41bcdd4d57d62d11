"""What a search optimizes: one validation metric that every job logs, and how
its value stands after each epoch (what a pruner compares).

The test set is reported, never optimized: no test metric is offered here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imdb_sweep.training.epoch_rule import EpochRule

DIRECTIONS = ("maximize", "minimize")
# The key a job's returned metrics carry when the pruner stopped it (the epoch).
PRUNED_AT_EPOCH = "pruned_at_epoch"


@dataclass(frozen=True)
class ObjectiveMetric:
    name: str
    epoch_key: str  # the per-epoch Keras metric it is made of
    best_of_epochs: bool  # True: the best epoch so far; False: the latest epoch
    direction: str  # its natural direction

    def value_after(self, epoch_values: Sequence[float], direction: str) -> float:
        """The objective if training stopped after the last of `epoch_values`."""
        if not self.best_of_epochs:
            return float(epoch_values[-1])
        return float(max(epoch_values) if direction == "maximize" else min(epoch_values))

    def epoch_rule(self, direction: str) -> EpochRule:
        """The epoch this metric's value comes from, going `direction`: whose weights a
        job of a search ranked by it logs."""
        return EpochRule(self.epoch_key, self.best_of_epochs, maximize=direction == "maximize")


# Summary metrics every job logs (imdb_sweep/training/fit.py TrainingResult).
OBJECTIVES = {
    metric.name: metric for metric in (
        ObjectiveMetric("best_val_accuracy", "val_accuracy", True, "maximize"),
        ObjectiveMetric("final_val_accuracy", "val_accuracy", False, "maximize"),
        ObjectiveMetric("best_val_loss", "val_loss", True, "minimize"),
        ObjectiveMetric("final_val_loss", "val_loss", False, "minimize"),
    )
}
DEFAULT_OBJECTIVE = "best_val_accuracy"


def objective_problems(metric: object, direction: object) -> list[str]:
    """Why hydra.sweeper.objective is not allowed (empty when it is)."""
    problems = []
    if metric not in OBJECTIVES:
        why = (" (the test set is reported, never optimized or used to pick)"
               if isinstance(metric, str) and metric.startswith("test") else "")
        problems.append(f"hydra.sweeper.objective.metric = {metric!r} is not allowed{why}: expected one of "
                        f"{', '.join(OBJECTIVES)} (validation metrics every job logs)")
    if direction is not None and direction not in DIRECTIONS:
        problems.append(f"hydra.sweeper.objective.direction = {direction!r} is not allowed: expected "
                        "maximize, minimize, or null (the metric's own direction)")
    return problems
