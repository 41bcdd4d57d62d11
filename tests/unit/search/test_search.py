"""Searches (hydra/sweeper=imdb_optuna): the space, the settings, the shared budget, pruning
inside a job. Searches on the command line: tests/e2e/test_search.py."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.config.validation import ConfigError
from imdb_sweep.search import trials as trial_records
from imdb_sweep.search.space import SearchSpace, SearchSpaceError
from imdb_sweep.search.storage import open_storage
from imdb_sweep.training.checkpoints import CheckpointStore
from tests.helpers.searches import (
    sweeper_settings,
)

# -- the space --------------------------------------------------------------------

def test_the_override_grammar_becomes_optuna_distributions():
    space = SearchSpace.from_overrides([
        "model.units=choice(16,32,64)", "model.hidden_layers=range(1,3)", "model.dropout=interval(0.0,0.6)",
        "train.learning_rate=tag(log,interval(1e-4,1e-2))", "model.activation=relu,tanh", "train.epochs=2"])
    assert space.distributions == {
        "model.units": CategoricalDistribution([16, 32, 64]),
        "model.hidden_layers": IntDistribution(1, 2),  # range's stop is left out, as in Python
        "model.dropout": FloatDistribution(0.0, 0.6),
        "train.learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "model.activation": CategoricalDistribution(["relu", "tanh"]),
    }
    assert space.fixed == ["train.epochs=2"]
    assert space.overrides({"model.units": 32, "model.hidden_layers": 2, "model.dropout": 0.125,
                            "train.learning_rate": 0.001, "model.activation": "tanh"}) == [
        "model.units=32", "model.hidden_layers=2", "model.dropout=0.125", "train.learning_rate=0.001",
        "model.activation=tanh", "train.epochs=2"]


def test_the_checked_candidates_hold_every_choice_and_every_bound():
    space = SearchSpace.from_overrides(["model.units=choice(0,32)", "model.dropout=interval(0.2,1.5)"])
    candidates = {tuple(job) for job in space.candidate_jobs()}
    assert candidates == {("model.units=0", "model.dropout=0.2"), ("model.units=0", "model.dropout=1.5"),
                          ("model.units=32", "model.dropout=0.2"), ("model.units=32", "model.dropout=1.5")}


def test_a_grid_needs_discrete_keys_and_a_space_needs_a_key():
    assert SearchSpace.from_overrides(["model.units=choice(16,32)", "model.hidden_layers=range(1,4)"]).grid() == {
        "model.units": [16, 32], "model.hidden_layers": [1, 2, 3]}
    with pytest.raises(SearchSpaceError, match=r"model.dropout=interval\(0.0,0.5\): the grid sampler needs"):
        SearchSpace.from_overrides(["model.dropout=interval(0.0,0.5)"]).grid()
    with pytest.raises(SearchSpaceError, match="the search space is empty"):
        SearchSpace.from_overrides(["train.epochs=2"])


# -- the settings ------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials = 0 is not allowed: expected an integer >= 1"),
    (["hydra.sweeper.pruner=fast"], "hydra.sweeper.pruner = 'fast' is not allowed: expected one of none, median, asha"),
    (["hydra.sweeper.objective.metric=test_accuracy"], "the test set is reported, never optimized"),
    (["hydra.sweeper.objective.metric=val_acc"], "expected one of best_val_accuracy, final_val_accuracy"),
    (["hydra.sweeper.objective.metric=best_val_loss", "hydra.sweeper.objective.direction=down"],
     "objective.direction = 'down'"),
    (["+hydra.sweeper.sampler.name=annealing"],
     "hydra.sweeper.sampler.name = 'annealing' is not an argument of optuna.samplers.TPESampler"),
])
def test_bad_sweeper_settings_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweeper_settings(*overrides)


def test_a_loss_objective_is_minimized_and_the_same_command_means_the_same_study():
    settings = sweeper_settings("hydra.sweeper.objective.metric=best_val_loss")
    assert settings.direction == "minimize"
    arguments = ["model.units=choice(16,32)", "train.epochs=3"]
    assert settings.study_name_for(arguments) == settings.study_name_for(list(reversed(arguments)))
    assert settings.study_name_for(arguments) != settings.study_name_for(["model.units=choice(16,64)"])
    more_trials = sweeper_settings("hydra.sweeper.n_trials=40", "hydra.sweeper.objective.metric=best_val_loss")
    assert more_trials.study_name_for(arguments) == settings.study_name_for(arguments)
    named = sweeper_settings("hydra.sweeper.study_name=mine")
    assert named.study_name_for(arguments) == "mine"


# -- the budget over workers, and dead workers -------------------------------------

def dead_process_identity() -> dict[str, str]:
    """The identity (host, pid, start) of a process that has exited."""
    from imdb_sweep.tracking.liveness import process_tags

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = {**process_tags(), contract.PID: str(child.pid)}
    identity.pop(contract.PROCESS_START, None)
    child.wait()
    return identity


def test_trial_numbers_decide_the_budget_and_dead_workers_trials_are_asked_again(tmp_path):
    study = optuna.create_study(storage=open_storage(str(tmp_path / "study.journal")), direction="maximize")
    units = {"model.units": CategoricalDistribution([16, 32])}
    first, second, third = (study.ask(fixed_distributions=units) for _ in range(3))
    assert trial_records.within_budget(study, second.number, 2)
    assert not trial_records.within_budget(study, third.number, 2)
    study.tell(first, 0.8)
    trial_records.claim(second)
    for key, value in dead_process_identity().items():
        second.set_user_attr(key, value)
    third.set_user_attr(contract.TRIAL_SURPLUS, True)
    study.tell(third, state=TrialState.FAIL)

    lost = trial_records.fail_lost_trials(study, dead_after_seconds=600)
    assert [number for number, _ in lost] == [second.number]
    frozen = {trial.number: trial for trial in study.get_trials()}
    assert frozen[second.number].state == TrialState.FAIL
    assert "is gone" in frozen[second.number].user_attrs[contract.TRIAL_LOST_WORKER]
    waiting = [trial for trial in frozen.values() if trial.state == TrialState.WAITING]
    assert len(waiting) == 1  # the lost configuration, asked again
    # Neither the lost trial nor the surplus one counts: one of two trials is left.
    assert trial_records.budget_left(study, 2) == 1
    assert not trial_records.search_done(study, 2)
    retry = study.ask(fixed_distributions=units)
    assert retry.params == frozen[second.number].params
    assert retry.user_attrs[contract.TRIAL_RETRY_OF] == second.number
    study.tell(retry, 0.7)
    assert trial_records.search_done(study, 2)


def test_a_live_workers_trial_is_left_running(tmp_path):
    study = optuna.create_study(storage=open_storage(str(tmp_path / "study.journal")))
    trial_records.claim(study.ask())
    assert trial_records.fail_lost_trials(study, dead_after_seconds=600) == []


def test_two_jobs_of_one_configuration_never_share_a_checkpoint_folder(tmp_path):
    first, second = CheckpointStore(tmp_path, "abc"), CheckpointStore(tmp_path, "abc")
    assert first.claim()
    assert not second.claim()
    first.release()
    assert second.claim()


def test_the_study_refuses_mlflows_own_database(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # creates MLflow's tables
    with pytest.raises(ConfigError, match="holds an MLflow tracking store; give the study a database of its own"):
        open_storage(uri)


# -- pruning inside a job -----------------------------------------------------------

def test_the_pruner_stops_a_job_after_an_epoch_and_never_after_the_last(tiny_config):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.search.reporter import TrialReporter
    from imdb_sweep.training.fit import train

    cfg = tiny_config("train.epochs=3")
    data = load_imdb(cfg.data)
    always = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(lower=2.0))  # every value is below 2
    reporter = TrialReporter(always.ask(), "val_accuracy", max, epochs=3)
    result = train(cfg, data, callbacks=[reporter])
    assert reporter.pruned_at_epoch == 1
    assert len(result.history["val_accuracy"]) == 1

    last_only = TrialReporter(always.ask(), "val_accuracy", max, epochs=1)
    result = train(tiny_config("train.epochs=1"), data, callbacks=[last_only])
    assert last_only.pruned_at_epoch is None and len(result.history["val_accuracy"]) == 1


def test_early_stopping_ends_a_job_once_validation_stops_improving(tiny_config):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.training.fit import train

    cfg = tiny_config("train.epochs=30", "train.early_stopping_patience=1", "train.learning_rate=0.05")
    result = train(cfg, load_imdb(cfg.data))
    curve = result.history["val_accuracy"]
    assert len(curve) < 30
    assert curve[-1] <= max(curve[:-1])  # it stopped because the last epoch did not improve


def test_a_trials_run_name_shortens_its_sampled_floats():
    from imdb_sweep.config.identity import run_name_from_overrides

    name = run_name_from_overrides(["model.units=32", "model.dropout=0.4599441259715189", "model.l2=0.001"], "x")
    assert name == "units=32,dropout=0.4599,l2=0.001"


def test_a_removed_checkpoint_leaves_no_lock_file_behind(tmp_path):
    store = CheckpointStore(tmp_path, "abc")
    assert store.claim()
    store.remove()
    store.release()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sampler", ["cmaes", "gp"])
def test_a_sampler_whose_package_is_missing_is_refused_up_front(sampler):
    import importlib.util

    from imdb_sweep.search.settings import SAMPLER_PACKAGES

    if importlib.util.find_spec(SAMPLER_PACKAGES[sampler]) is None:
        with pytest.raises(ConfigError, match=f"needs the {SAMPLER_PACKAGES[sampler]} package"):
            sweeper_settings(f"hydra/sweeper/imdb_sampler={sampler}")
    else:
        assert sweeper_settings(f"hydra/sweeper/imdb_sampler={sampler}").sampler_name == sampler
