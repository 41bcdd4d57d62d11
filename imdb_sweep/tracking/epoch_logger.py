"""The Keras callback that logs every epoch's metrics to a job's run."""

from __future__ import annotations

import keras

from imdb_sweep import contract
from imdb_sweep.tracking.spool import RunSpool
from imdb_sweep.training.callbacks import EpochTimer


class EpochMetricsLogger(keras.callbacks.Callback):
    """Logs Keras's epoch metrics and the epoch's time (from `timer`, the same
    clock the checkpoint records) to the job's run through its spool, step = epoch
    (1-based): while the server is away they are kept, and each epoch's end gives
    the spool a chance to send what it kept."""

    def __init__(self, spool: RunSpool, timer: EpochTimer):
        super().__init__()
        self._spool = spool
        self._timer = timer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {name: float(value) for name, value in (logs or {}).items()}
        metrics[contract.EPOCH_SECONDS] = self._timer.last
        self._spool.log_metrics(metrics, step=epoch + 1)
