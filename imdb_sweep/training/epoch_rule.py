"""Which epoch's weights a run's logged model holds: the epoch that the metric
ranking the run stands for.

`best_val_accuracy` stands for the epoch of the highest `val_accuracy` (the first
of equal ones, as `best_epoch` counts), `best_val_loss` for the lowest `val_loss`,
`final_*` for the last epoch. Keras-free, so a search's objectives
(search/objective.py) name their rule without starting TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imdb_sweep import contract


@dataclass(frozen=True)
class EpochRule:
    epoch_key: str  # the per-epoch Keras metric: val_accuracy, val_loss
    best_of_epochs: bool  # False: the last epoch
    maximize: bool = True

    @property
    def name(self) -> str:
        """`max_val_accuracy`, `min_val_loss`, or `last`: what a checkpoint calls its kept weights."""
        if not self.best_of_epochs:
            return "last"
        return f"{'max' if self.maximize else 'min'}_{self.epoch_key}"

    def improves(self, value: float, kept: float | None) -> bool:
        """Whether an epoch scoring `value` replaces the one kept so far (scoring `kept`,
        None before the first): strictly better, so the first of equal epochs stays."""
        if not self.best_of_epochs or kept is None:
            return True
        return value > kept if self.maximize else value < kept

    def chosen_epoch(self, values: Sequence[float]) -> int:
        """The 1-based epoch this rule keeps among epochs scoring `values` (0 for none)."""
        chosen, kept = 0, None
        for epoch, value in enumerate(values, start=1):
            if self.improves(value, kept):
                chosen, kept = epoch, value
        return chosen


# The report ranks runs by best_val_accuracy unless a search says otherwise
# (report/table.py DEFAULT_RANKING_METRIC); early stopping keeps this epoch too.
BEST_VAL_ACCURACY = EpochRule(contract.VAL_ACCURACY, best_of_epochs=True, maximize=True)
