"""Training on tiny data: metrics, best epoch, repeatability, divergence."""

from __future__ import annotations

import math

import pytest

from imdb_sweep.data import load_imdb
from imdb_sweep.training.callbacks import NonFiniteLossError
from imdb_sweep.training.fit import TrainingResult, train


def test_train_reports_keras_metrics_for_every_epoch(tiny_config):
    cfg = tiny_config("train.epochs=3")
    result = train(cfg, load_imdb(cfg.data))
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in result.history.values())
    assert len(result.epoch_seconds) == 3
    assert 0.0 <= result.test_accuracy <= 1.0 and math.isfinite(result.test_loss)
    assert result.best_val_accuracy == max(result.history["val_accuracy"])


def test_the_tiny_task_is_learnable(tiny_config):
    cfg = tiny_config("train.epochs=15", "train.learning_rate=0.01")
    result = train(cfg, load_imdb(cfg.data))
    assert result.history["accuracy"][-1] > 0.9


def test_best_epoch_is_one_based_and_first_on_ties():
    result = TrainingResult(
        history={"val_accuracy": [0.5, 0.8, 0.8, 0.7], "val_loss": [0.7, 0.4, 0.5, 0.6]}, test_loss=0.0,
        test_accuracy=0.0, train_seconds=0.0, evaluate_seconds=0.0,
    )
    assert result.best_epoch == 2
    summary = result.summary_metrics()
    assert summary["final_val_accuracy"] == 0.7
    # What a search may optimize besides best_val_accuracy (imdb_sweep/search/objective.py).
    assert (summary["best_val_loss"], summary["final_val_loss"], summary["epochs_trained"]) == (0.4, 0.6, 4)


def test_same_seed_same_numbers_other_seed_other_numbers(tiny_config):
    cfg = tiny_config("train.epochs=2")
    data = load_imdb(cfg.data)
    first, second = train(cfg, data), train(cfg, data)
    assert first.history == second.history
    assert first.test_accuracy == second.test_accuracy
    other = train(tiny_config("train.epochs=2", "seed=7"), data)
    assert other.history["loss"] != first.history["loss"]


def test_a_diverging_run_stops_with_a_clear_error(tiny_config):
    cfg = tiny_config("train.learning_rate=1e38", "train.optimizer=sgd", "train.epochs=3")
    with pytest.raises(NonFiniteLossError, match="the training loss became"):
        train(cfg, load_imdb(cfg.data))
