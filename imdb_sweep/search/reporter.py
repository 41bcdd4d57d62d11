"""The Keras callback of a search's job: the objective after every epoch, told to
the trial, and a stop when the pruner says so."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from imdb_sweep.search.trial_link import TrialLink


class TrialReporter(keras.callbacks.Callback):
    """After every epoch: report the objective so far, stop when the pruner says so."""

    def __init__(self, link: TrialLink, epochs: int, previous_values: Sequence[float] = ()):
        super().__init__()
        self._link = link
        self._epochs = epochs
        self._values = [float(value) for value in previous_values]
        self.pruned_at_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        key = self._link.info.objective_metric.epoch_key
        if key not in (logs or {}):
            return  # No validation this epoch: nothing to report.
        self._values.append(float(logs[key]))
        step = epoch + 1  # Keras counts from 0, our curves from 1
        self._link.trial.report(self._link.objective_after(self._values), step=step)
        if step < self._epochs and self._link.trial.should_prune():
            self.pruned_at_epoch = step
            self.model.stop_training = True
