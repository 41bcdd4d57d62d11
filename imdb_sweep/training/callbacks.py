"""The Keras callbacks a training run always uses: epoch timing, a stop at the
first non-finite loss, and per-epoch checkpoints."""

from __future__ import annotations

import math
import time

import keras

from imdb_sweep.training.checkpoints import CheckpointState, CheckpointStore


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
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"the training loss became {float(loss)} in epoch {self._epoch}; "
                "the run diverged (try a smaller train.learning_rate)"
            )


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model, optimizer state and history after every epoch."""

    def __init__(self, store: CheckpointStore, state: CheckpointState, timer: EpochTimer):
        super().__init__()
        self._store = store
        self._state = state
        self._timer = timer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            self._state.history.setdefault(name, []).append(float(value))
        self._state.epoch_seconds.append(self._timer.last)
        self._state.epochs_done = epoch + 1
        self._store.save(self.model, self._state)
