"""The Keras callback of a search's job: the objective after every epoch, told to
the trial, and a stop when the pruner says so."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras


class TrialReporter(keras.callbacks.Callback):
    """After every epoch: report the objective so far (`objective_after` of the
    `epoch_key` values up to now) to `trial`, stop when its pruner says so."""

    def __init__(self, trial: Any, epoch_key: str, objective_after: Callable[[Sequence[float]], float],
                 epochs: int, previous_values: Sequence[float] = ()):
        super().__init__()
        self._trial = trial
        self._epoch_key = epoch_key
        self._objective_after = objective_after
        self._epochs = epochs
        self._values = [float(value) for value in previous_values]
        self.pruned_at_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._epoch_key not in logs:
            return  # No validation this epoch: nothing to report.
        self._values.append(float(logs[self._epoch_key]))
        step = epoch + 1  # Keras counts from 0, our curves from 1
        self._trial.report(self._objective_after(self._values), step=step)
        if step < self._epochs and self._trial.should_prune():
            self.pruned_at_epoch = step
            self.model.stop_training = True
