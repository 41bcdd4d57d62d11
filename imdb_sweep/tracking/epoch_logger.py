"""The Keras callback that logs every epoch's metrics to a job's run."""

from __future__ import annotations

import time

import keras
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.training.callbacks import EpochTimer


class EpochMetricsLogger(keras.callbacks.Callback):
    """Logs Keras's epoch metrics and the epoch's time (from `timer`, the same
    clock the checkpoint records) to `run_id`, step = epoch (1-based)."""

    def __init__(self, run_id: str, timer: EpochTimer):
        super().__init__()
        self._client = MlflowClient()
        self._run_id = run_id
        self._timer = timer

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        timestamp = int(time.time() * 1000)
        step = epoch + 1
        metrics = [Metric(name, float(value), timestamp, step) for name, value in (logs or {}).items()]
        metrics.append(Metric(contract.EPOCH_SECONDS, self._timer.last, timestamp, step))
        self._client.log_batch(self._run_id, metrics=metrics, synchronous=True)
