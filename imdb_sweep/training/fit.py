"""Fits and evaluates one model: the part of a job that knows nothing of MLflow."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from imdb_sweep.data import ImdbData
from imdb_sweep.process.memory import garbage_collector_frozen
from imdb_sweep.process.policy import apply_training_settings
from imdb_sweep.training.callbacks import EpochCheckpoint, EpochTimer, StopOnNonFiniteLoss
from imdb_sweep.training.checkpoints import CheckpointState, CheckpointStore
from imdb_sweep.training.fused.batches import BatchGroups, validation_split
from imdb_sweep.training.fused.model import FusedStepsSequential
from imdb_sweep.training.model import build_compiled_model


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
            "best_val_loss": min(self.history["val_loss"]),
            "final_val_loss": self.history["val_loss"][-1],
            "epochs_trained": float(len(self.history["val_accuracy"])),
            "train_seconds": self.train_seconds,
            "evaluate_seconds": self.evaluate_seconds,
        }


def fit_model(model: keras.Model, cfg: Any, data: ImdbData, initial_epoch: int, epochs: int,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.callbacks.History:
    """model.fit from `initial_epoch` to `epochs` with cfg.train's batch size, validation
    split and verbosity, through the fused loop where the model has one."""
    common = dict(
        initial_epoch=initial_epoch,
        epochs=epochs,
        validation_batch_size=cfg.train.evaluation_batch_size,
        verbose=cfg.train.verbose,
    )
    if isinstance(model, FusedStepsSequential):
        (x_fit, y_fit), validation = validation_split(data.x_train, data.y_train, cfg.train.validation_split)
        groups = BatchGroups(x_fit, y_fit, cfg.train.batch_size, cfg.train.steps_per_execution, cfg.seed)
        # shuffle=False: BatchGroups shuffles every epoch itself.
        return model.fit(groups.dataset(), validation_data=validation, shuffle=False,
                         callbacks=[groups.epoch_callback(), *callbacks], **common)
    return model.fit(data.x_train, data.y_train, batch_size=cfg.train.batch_size,
                     validation_split=cfg.train.validation_split, callbacks=list(callbacks), **common)


def train(
    cfg: Any,
    data: ImdbData,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    checkpoints: CheckpointStore | None = None,
    run_id: str = "",
    resume: CheckpointState | None = None,
    epoch_timer: EpochTimer | None = None,
) -> TrainingResult:
    """Seed, build (or restore from `resume`), fit with validation_split, evaluate.

    With `checkpoints`, every epoch is saved there for `run_id`; with `resume`,
    training continues after its last completed epoch, weights and optimizer
    state restored, and the returned history covers every epoch. Pass
    `epoch_timer` to read the epochs' times from another callback.
    """
    apply_training_settings(cfg.train)
    keras.utils.set_random_seed(cfg.seed)
    if resume is not None:
        if checkpoints is None:
            raise ValueError("resuming a run needs its checkpoint store")
        model = keras.models.load_model(checkpoints.model_path)
        state = CheckpointState(run_id, resume.epochs_done,
                                {k: list(v) for k, v in resume.history.items()},
                                list(resume.epoch_seconds))
    else:
        model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
        state = CheckpointState(run_id, 0)
    timer = epoch_timer or EpochTimer()
    extra: list[keras.callbacks.Callback] = [timer, StopOnNonFiniteLoss()]
    if checkpoints is not None:
        extra.append(EpochCheckpoint(checkpoints, state, timer))
    if cfg.train.early_stopping_patience is not None:
        # Keras's own: stop once val_accuracy has not improved for `patience` epochs,
        # keeping the best epoch's weights (what the test set then measures).
        extra.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", restore_best_weights=True,
                                                   patience=cfg.train.early_stopping_patience))

    with garbage_collector_frozen():
        started = time.perf_counter()
        history: dict[str, list[float]] = {k: list(v) for k, v in state.history.items()}
        if state.epochs_done < cfg.train.epochs:
            fitted = fit_model(model, cfg, data, state.epochs_done, cfg.train.epochs, [*extra, *callbacks])
            for name, values in fitted.history.items():
                history[name] = (resume.history.get(name, []) if resume else []) + [float(v) for v in values]
        train_seconds = time.perf_counter() - started

        started = time.perf_counter()
        test_loss, test_accuracy = model.evaluate(
            data.x_test, data.y_test, batch_size=cfg.train.evaluation_batch_size, verbose=0
        )
        evaluate_seconds = time.perf_counter() - started

    return TrainingResult(
        history=history,
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        train_seconds=train_seconds,
        evaluate_seconds=evaluate_seconds,
        epoch_seconds=(list(resume.epoch_seconds) if resume else []) + timer.seconds,
        model=model,
    )
