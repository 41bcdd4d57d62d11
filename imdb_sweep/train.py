"""Fits and evaluates one model: the part of a job that knows nothing of MLflow."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imdb_sweep.runtime import set_tensorflow_threads, start_tensorflow

start_tensorflow()

import keras  # noqa: E402 - after the quiet TensorFlow start

from imdb_sweep.data import ImdbData
from imdb_sweep.model import build_compiled_model


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


@dataclass
class TrainingResult:
    history: dict[str, list[float]]  # Keras names: loss, accuracy, val_loss, val_accuracy
    test_loss: float
    test_accuracy: float
    train_seconds: float
    evaluate_seconds: float
    epoch_seconds: list[float] = field(default_factory=list)
    model: keras.Model | None = None

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the highest validation accuracy (the first one on ties)."""
        values = self.history["val_accuracy"]
        return values.index(max(values)) + 1

    @property
    def best_val_accuracy(self) -> float:
        return max(self.history["val_accuracy"])

    def summary_metrics(self) -> dict[str, float]:
        return {
            "test_loss": self.test_loss,
            "test_accuracy": self.test_accuracy,
            "best_val_accuracy": self.best_val_accuracy,
            "best_epoch": float(self.best_epoch),
            "final_val_accuracy": self.history["val_accuracy"][-1],
            "train_seconds": self.train_seconds,
            "evaluate_seconds": self.evaluate_seconds,
        }


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises at the first NaN/inf batch loss, so a diverged job can never finish."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"the training loss became {float(loss)} at batch {batch + 1}; "
                "the run diverged (try a smaller train.learning_rate)"
            )


def train(
    cfg: Any, data: ImdbData, callbacks: Sequence[keras.callbacks.Callback] = ()
) -> TrainingResult:
    """Seed, build, fit with validation_split, evaluate on the test split."""
    set_tensorflow_threads(cfg.train.get("threads"))
    keras.utils.set_random_seed(cfg.seed)
    model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
    timer = _EpochTimer()

    started = time.perf_counter()
    history = model.fit(
        data.x_train, data.y_train,
        epochs=cfg.train.epochs,
        batch_size=cfg.train.batch_size,
        validation_split=cfg.train.validation_split,
        verbose=cfg.train.verbose,
        callbacks=[timer, _StopOnNonFiniteLoss(), *callbacks],
    )
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    test_loss, test_accuracy = model.evaluate(
        data.x_test, data.y_test, batch_size=max(cfg.train.batch_size, 256), verbose=0
    )
    evaluate_seconds = time.perf_counter() - started

    return TrainingResult(
        history={name: [float(value) for value in values] for name, values in history.history.items()},
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        train_seconds=train_seconds,
        evaluate_seconds=evaluate_seconds,
        epoch_seconds=timer.seconds,
        model=model,
    )
