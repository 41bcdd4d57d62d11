"""Fits and evaluates one model: the part of a job that knows nothing of MLflow."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from imdb_sweep import contract
from imdb_sweep.data import ImdbData
from imdb_sweep.models import evaluation_batch_size, import_layers, prepare_for_training
from imdb_sweep.process.memory import garbage_collector_frozen
from imdb_sweep.process.process_wide import apply_runtime_settings
from imdb_sweep.training.callbacks import (
    EpochCheckpoint,
    EpochTimer,
    KeptWeights,
    ResumableEarlyStopping,
    StopOnNonFiniteLoss,
)
from imdb_sweep.training.checkpoints import CheckpointState, CheckpointStore
from imdb_sweep.training.epoch_rule import BEST_VAL_ACCURACY, EpochRule
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
    model: keras.Model | None = None  # as test_loss/test_accuracy measured it
    # The 1-based epoch whose weights the logged model is to hold (train's
    # model_epoch_rule), and those weights; None: `model` holds them already.
    model_epoch: int = 0
    model_weights: list[Any] | None = None

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the highest validation accuracy (the first one on ties)."""
        return BEST_VAL_ACCURACY.chosen_epoch(self.history[BEST_VAL_ACCURACY.epoch_key])

    @property
    def best_val_accuracy(self) -> float:
        return max(self.history[contract.VAL_ACCURACY])

    def summary_metrics(self) -> dict[str, float]:
        return {
            contract.TEST_LOSS: self.test_loss,
            contract.TEST_ACCURACY: self.test_accuracy,
            contract.BEST_VAL_ACCURACY: self.best_val_accuracy,
            contract.BEST_EPOCH: float(self.best_epoch),
            contract.FINAL_VAL_ACCURACY: self.history[contract.VAL_ACCURACY][-1],
            contract.BEST_VAL_LOSS: min(self.history[contract.VAL_LOSS]),
            contract.FINAL_VAL_LOSS: self.history[contract.VAL_LOSS][-1],
            contract.EPOCHS_TRAINED: float(len(self.history[contract.VAL_ACCURACY])),
            contract.TRAIN_SECONDS: self.train_seconds,
            contract.EVALUATE_SECONDS: self.evaluate_seconds,
        }


@dataclass(frozen=True)
class ChosenModel:
    """The model a run logs: the weights of its `epoch`, measured on the test split."""

    epoch: int
    test_loss: float
    test_accuracy: float
    evaluate_seconds: float  # 0 when test_loss/test_accuracy measured these weights already

    def metrics(self) -> dict[str, float]:
        return {contract.MODEL_EPOCH: float(self.epoch), contract.MODEL_TEST_ACCURACY: self.test_accuracy,
                contract.MODEL_TEST_LOSS: self.test_loss, contract.MODEL_EVALUATE_SECONDS: self.evaluate_seconds}


def choose_model_epoch(result: TrainingResult, cfg: Any, data: ImdbData) -> ChosenModel:
    """Give `result.model` the weights of `result.model_epoch` and measure them on the
    test split. Where those are the weights test_accuracy measured (the last epoch's,
    or early stopping's restored best), its numbers stand and nothing is evaluated."""
    if result.model_weights is None:
        return ChosenModel(result.model_epoch, result.test_loss, result.test_accuracy, 0.0)
    assert result.model is not None, "train() returns weights to choose only with their model"
    result.model.set_weights(result.model_weights)
    result.model_weights = None
    with garbage_collector_frozen():
        started = time.perf_counter()
        test_loss, test_accuracy = result.model.evaluate(
            data.x_test, data.y_test, batch_size=evaluation_batch_size(cfg), verbose=0
        )
        seconds = time.perf_counter() - started
    return ChosenModel(result.model_epoch, float(test_loss), float(test_accuracy), seconds)


def fit_model(model: keras.Model, cfg: Any, data: ImdbData, initial_epoch: int, epochs: int,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.callbacks.History:
    """model.fit from `initial_epoch` to `epochs` with cfg.train's batch size, validation
    split and verbosity, through the fused loop where the model has one."""
    common = dict(
        initial_epoch=initial_epoch,
        epochs=epochs,
        validation_batch_size=evaluation_batch_size(cfg),
        verbose=cfg.runtime.verbose,
    )
    if isinstance(model, FusedStepsSequential):
        (x_fit, y_fit), validation = validation_split(data.x_train, data.y_train, cfg.train.validation_split)
        groups = BatchGroups(x_fit, y_fit, cfg.train.batch_size, cfg.runtime.steps_per_execution, cfg.seed)
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
    model_epoch_rule: EpochRule = BEST_VAL_ACCURACY,
) -> TrainingResult:
    """Seed, build (or restore from `resume`), fit with validation_split, evaluate.

    With `checkpoints`, every epoch is saved there for `run_id`; with `resume`,
    training continues after its last completed epoch, weights and optimizer
    state restored, and the returned history covers every epoch. Pass
    `epoch_timer` to read the epochs' times from another callback. The weights of
    the epoch `model_epoch_rule` keeps come back with the result, for the logged
    model (choose_model_epoch); test_loss/test_accuracy measure the model after
    the last epoch (with early stopping, its best epoch's weights), as ever.
    """
    apply_runtime_settings(cfg.runtime)
    keras.utils.set_random_seed(cfg.seed)
    if resume is not None:
        if checkpoints is None:
            raise ValueError("resuming a run needs its checkpoint store")
        import_layers(cfg.model)
        model = keras.models.load_model(checkpoints.model_path)
        state = CheckpointState(run_id, resume.epochs_done,
                                {k: list(v) for k, v in resume.history.items()},
                                list(resume.epoch_seconds), dict(resume.kept_epochs))
    else:
        model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
        # What the model learns from the rows it is fitted on (a TF-IDF vector's weights).
        (x_fit, _), _ = validation_split(data.x_train, data.y_train, cfg.train.validation_split)
        prepare_for_training(model, x_fit)
        state = CheckpointState(run_id, 0)
    early_stopping = cfg.train.early_stopping_patience is not None
    model_keeper = _keeper(model_epoch_rule, resume, checkpoints)
    keepers = [model_keeper]
    if early_stopping and model_epoch_rule != BEST_VAL_ACCURACY:
        keepers.append(_keeper(BEST_VAL_ACCURACY, resume, checkpoints))
    best_keeper = next(keeper for keeper in keepers if keeper.rule == BEST_VAL_ACCURACY) if early_stopping else None
    timer = epoch_timer or EpochTimer()
    extra: list[keras.callbacks.Callback] = [timer, StopOnNonFiniteLoss(), *keepers]
    if checkpoints is not None:
        extra.append(EpochCheckpoint(checkpoints, state, timer, keepers))
    if early_stopping:
        # Keras's own: stop once val_accuracy has not improved for `patience` epochs;
        # the best epoch's weights are restored below (what the test set then measures).
        extra.append(ResumableEarlyStopping(cfg.train.early_stopping_patience,
                                            resume.history.get(BEST_VAL_ACCURACY.epoch_key) if resume else None))

    with garbage_collector_frozen():
        started = time.perf_counter()
        history: dict[str, list[float]] = {k: list(v) for k, v in state.history.items()}
        if state.epochs_done < cfg.train.epochs:
            fitted = fit_model(model, cfg, data, state.epochs_done, cfg.train.epochs, [*extra, *callbacks])
            for name, values in fitted.history.items():
                history[name] = (resume.history.get(name, []) if resume else []) + [float(v) for v in values]
        last_epoch = len(history.get(BEST_VAL_ACCURACY.epoch_key, []))
        tested_epoch = last_epoch
        if best_keeper is not None and best_keeper.weights is not None:
            if not model_epoch_rule.best_of_epochs:
                model_keeper.weights = model.get_weights()  # the last epoch's, before they are replaced
            model.set_weights(best_keeper.weights)
            tested_epoch = best_keeper.epoch
        train_seconds = time.perf_counter() - started

        started = time.perf_counter()
        test_loss, test_accuracy = model.evaluate(
            data.x_test, data.y_test, batch_size=evaluation_batch_size(cfg), verbose=0
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
        model_epoch=model_keeper.epoch or last_epoch,
        model_weights=None if model_keeper.epoch in (0, tested_epoch) else model_keeper.weights,
    )


def _keeper(rule: EpochRule, resume: CheckpointState | None, checkpoints: CheckpointStore | None) -> KeptWeights:
    """The KeptWeights of `rule`; on a resumed run, holding what the checkpoint kept."""
    if resume is None or checkpoints is None:
        return KeptWeights(rule)
    values = resume.history.get(rule.epoch_key, [])
    if not rule.best_of_epochs:
        # The last epoch's weights are the checkpoint's model.
        return KeptWeights(rule, len(values), values[-1] if values else None)
    epoch = resume.kept_epochs.get(rule.name)
    weights = checkpoints.load_kept_weights(resume).get(rule.name)
    if epoch is None or weights is None or not 1 <= epoch <= len(values):
        # A checkpoint from before kept weights: the best epoch from here on.
        return KeptWeights(rule)
    return KeptWeights(rule, epoch, values[epoch - 1], weights)
