"""The Keras callbacks a training run uses: epoch timing, a stop at the first
non-finite loss, the weights of the epoch a rule keeps, early stopping that
resumes, and per-epoch checkpoints."""

from __future__ import annotations

import math
import time

import keras

from imdb_sweep import contract
from imdb_sweep.training.checkpoints import CheckpointState, CheckpointStore
from imdb_sweep.training.epoch_rule import BEST_VAL_ACCURACY, EpochRule


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch, read by the checkpoint and by the MLflow logger,
    so that both record the same number."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)

    @property
    def last(self) -> float:
        return self.seconds[-1]


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises at the first NaN/inf loss Keras reports (after every compiled call of
    steps_per_execution batches), so a diverged job can never finish."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get(contract.LOSS)
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"the training loss became {float(loss)} in epoch {self._epoch}; "
                "the run diverged (try a smaller train.learning_rate)"
            )


class KeptWeights(keras.callbacks.Callback):
    """The weights of the epoch `rule` keeps so far, copied at the end of that epoch
    when it replaces the one kept before. A last-epoch rule copies nothing: the model
    holds that epoch's weights when fit returns. `epoch` is 1-based (0: none yet);
    a resumed run starts from the checkpoint's epoch, value and weights."""

    def __init__(self, rule: EpochRule, epoch: int = 0, value: float | None = None,
                 weights: list | None = None):
        super().__init__()
        self.rule = rule
        self.epoch = epoch
        self.value = value
        self.weights = weights

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.rule.epoch_key)
        if value is None or not self.rule.improves(float(value), self.value):
            return
        self.epoch, self.value = epoch + 1, float(value)
        if self.rule.best_of_epochs:
            self.weights = self.model.get_weights()


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping on val_accuracy (`patience` epochs without a new best),
    which on a resumed run counts the epochs before the interruption as the
    uninterrupted run did. It restores no weights itself: training restores the best
    epoch's from a KeptWeights of BEST_VAL_ACCURACY, which checkpoints keep."""

    # EarlyStopping's own counters, which on_train_begin replays.
    wait: int
    best: float

    def __init__(self, patience: int, previous_values: list[float] | None = None):
        super().__init__(monitor=BEST_VAL_ACCURACY.epoch_key, mode="max" if BEST_VAL_ACCURACY.maximize else "min",
                         patience=patience, restore_best_weights=False)
        self._previous_values = list(previous_values or [])

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        # Keras's own bookkeeping of on_epoch_end (min_delta 0, no baseline), replayed.
        for epoch, value in enumerate(self._previous_values):
            self.wait += 1
            if BEST_VAL_ACCURACY.improves(value, self.best):
                self.best, self.best_epoch, self.wait = value, epoch, 0


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model, optimizer state and history after every epoch, and the weights
    each of `keepers` keeps (listed before this callback, so they have seen the epoch)."""

    def __init__(self, store: CheckpointStore, state: CheckpointState, timer: EpochTimer,
                 keepers: list[KeptWeights] | None = None):
        super().__init__()
        self._store = store
        self._state = state
        self._timer = timer
        self._keepers = [keeper for keeper in keepers or [] if keeper.rule.best_of_epochs]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            self._state.history.setdefault(name, []).append(float(value))
        self._state.epoch_seconds.append(self._timer.last)
        self._state.epochs_done = epoch + 1
        kept = [keeper for keeper in self._keepers if keeper.weights is not None]
        self._state.kept_epochs = {keeper.rule.name: keeper.epoch for keeper in kept}
        # Only weights that changed this epoch are written; the others are on disk.
        fresh = {keeper.rule.name: keeper.weights for keeper in kept
                 if keeper.epoch == epoch + 1 and keeper.weights is not None}
        self._store.save(self.model, self._state, fresh)
