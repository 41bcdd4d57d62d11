"""Training on tiny data: metrics, best epoch, repeatability, divergence, and the
weights kept for the logged model."""

from __future__ import annotations

import math

import pytest

from imdb_sweep.data import load_imdb
from imdb_sweep.report.table import DEFAULT_RANKING_METRIC
from imdb_sweep.search.objective import OBJECTIVES
from imdb_sweep.training.callbacks import NonFiniteLossError
from imdb_sweep.training.epoch_rule import BEST_VAL_ACCURACY, EpochRule
from imdb_sweep.training.fit import TrainingResult, choose_model_epoch, train
from tests.helpers.training import MIN_VAL_LOSS, overfitting_data, same_weights


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


# ---------------------------------------------------------------------------
# The weights of the epoch the ranking metric stands for (the logged model's)
# ---------------------------------------------------------------------------

MAX_VAL_ACCURACY = BEST_VAL_ACCURACY
LAST_EPOCH = EpochRule("val_loss", best_of_epochs=False)
LOOPS = {"fused": "runtime.fuse_steps=true", "keras": "runtime.fuse_steps=false"}


def test_each_objective_keeps_the_epoch_its_value_comes_from():
    values = [0.6, 0.8, 0.8, 0.7, 0.4]
    for name, metric in OBJECTIVES.items():
        for direction in ("maximize", "minimize"):
            rule = metric.epoch_rule(direction)
            assert rule.epoch_key == metric.epoch_key
            epoch = rule.chosen_epoch(values)
            assert values[epoch - 1] == metric.value_after(values, direction), (name, direction)
    assert OBJECTIVES["best_val_accuracy"].epoch_rule("maximize").chosen_epoch(values) == 2  # the first of ties
    assert OBJECTIVES["best_val_loss"].epoch_rule("minimize").chosen_epoch(values) == 5
    assert OBJECTIVES["final_val_accuracy"].epoch_rule("maximize").chosen_epoch(values) == 5
    # What a grid's job keeps is what its report ranks by.
    assert OBJECTIVES[DEFAULT_RANKING_METRIC].epoch_rule("maximize") == BEST_VAL_ACCURACY


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("rule", [MAX_VAL_ACCURACY, MIN_VAL_LOSS], ids=lambda rule: rule.name)
def test_the_kept_weights_are_those_of_a_run_stopped_at_the_chosen_epoch(tiny_config, loop, rule):
    overrides = (LOOPS[loop], "train.learning_rate=0.01")
    cfg = tiny_config("train.epochs=6", *overrides)
    data = overfitting_data(cfg)
    result = train(cfg, data, model_epoch_rule=rule)
    assert result.model_epoch == rule.chosen_epoch(result.history[rule.epoch_key])
    assert 1 <= result.model_epoch < 6  # the data makes it an early epoch: the test means something
    last_weights = result.model.get_weights()

    stopped = train(tiny_config(f"train.epochs={result.model_epoch}", *overrides), data)
    assert same_weights(result.model_weights, stopped.model.get_weights())
    chosen = choose_model_epoch(result, cfg, data)
    assert chosen.epoch == result.model_epoch and chosen.evaluate_seconds > 0
    # The same weights and the same test arrays in the same batches: the same numbers.
    assert (chosen.test_accuracy, chosen.test_loss) == (stopped.test_accuracy, stopped.test_loss)
    assert same_weights(result.model.get_weights(), stopped.model.get_weights())
    # test_accuracy stays the last epoch's.
    assert not same_weights(last_weights, stopped.model.get_weights())
    assert result.test_accuracy == stopped.test_accuracy or result.test_loss != stopped.test_loss


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_final_metric_keeps_the_last_epoch_and_measures_nothing_again(tiny_config, loop):
    cfg = tiny_config("train.epochs=3", LOOPS[loop], "train.learning_rate=0.01")
    data = overfitting_data(cfg)
    result = train(cfg, data, model_epoch_rule=LAST_EPOCH)
    assert (result.model_epoch, result.model_weights) == (3, None)
    chosen = choose_model_epoch(result, cfg, data)
    assert chosen.metrics() == {"model_epoch": 3.0, "model_test_accuracy": result.test_accuracy,
                                "model_test_loss": result.test_loss, "model_evaluate_seconds": 0.0}


def test_with_early_stopping_the_kept_model_is_the_one_tested(tiny_config):
    cfg = tiny_config("train.epochs=6", "train.learning_rate=0.01", "train.early_stopping_patience=2")
    data = overfitting_data(cfg)
    result = train(cfg, data)
    epochs = len(result.history["val_accuracy"])
    assert result.model_epoch == result.best_epoch and epochs == result.best_epoch + 2 < 6
    # Early stopping restored the best epoch's weights before the test split measured them.
    assert result.model_weights is None
    chosen = choose_model_epoch(result, cfg, data)
    assert (chosen.test_accuracy, chosen.evaluate_seconds) == (result.test_accuracy, 0.0)
    # A final metric keeps the last epoch, not the restored one.
    last = train(cfg, data, model_epoch_rule=LAST_EPOCH)
    assert last.test_accuracy == result.test_accuracy and last.model_epoch == epochs
    assert not same_weights(last.model_weights, last.model.get_weights())
