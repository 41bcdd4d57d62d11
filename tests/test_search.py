"""Searches (hydra/sweeper=imdb_optuna): the space, the settings, the shared budget, pruning,
and real searches on the CLI: both local launchers, two workers on one study (journal
file and PostgreSQL), a kill -9 and a rerun, and every bad input refused before a run
exists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
from tests.helpers.cli import TINY, run_cli
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.searches import (
    SEARCH,
    assert_complete_search,
    assert_refused_before_any_run_or_study,
    read_search,
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


@pytest.mark.slow
def test_a_search_jobs_model_holds_the_epoch_its_objective_stands_for(tmp_path, tiny_archive):
    env = {"IMDB_SWEEP_ACLIMDB": str(tiny_archive), "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"),
           "MLFLOW_TRACKING_URI": ""}
    # At this rate the tiny task is learnt early: best_val_accuracy would keep an earlier epoch.
    result = run_cli([*SEARCH, "hydra.sweeper.n_trials=1", "hydra.sweeper.objective.metric=final_val_loss",
                      "model.units=choice(8)", "data.maxlen=50", "data.num_words=40", "train.batch_size=8",
                      "train.verbose=0", "train.epochs=3", "train.learning_rate=0.01"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = [run for run in client.search_runs([client.get_experiment_by_name("imdb-sweep").experiment_id])
              if run.data.tags.get(contract.ROLE) == "job"]
    assert run.data.metrics["best_epoch"] < 3 and run.data.metrics["model_epoch"] == 3  # the last epoch's
    assert run.data.metrics["model_test_accuracy"] == run.data.metrics["test_accuracy"]


# -- bad input on the command line: refused before any run or study exists ----------

@pytest.mark.parametrize("arguments, message", [
    (["model.units=choice(0,32)"],
     "model.units=choice(0,32): model.units = 0 is not allowed: expected an integer >= 1"),
    (["model.dropout=interval(0.2,1.5)"],
     "model.dropout=interval(0.2,1.5): model.dropout = 1.5 is not allowed: expected a number in [0, 1)"),
    (["model.hidden_layers=range(0,3)"],
     "model.hidden_layers=range(0,3): model.hidden_layers = 0 is not allowed: expected an integer >= 1"),
    (["hydra.sweeper.n_trials=0", "model.units=choice(16,32)"], "hydra.sweeper.n_trials = 0 is not allowed"),
    (["hydra.sweeper.pruner=fast", "model.units=choice(16,32)"], "hydra.sweeper.pruner = 'fast' is not allowed"),
    (["hydra/sweeper/imdb_sampler=annealing", "model.units=choice(16,32)"],
     "Could not find 'hydra/sweeper/imdb_sampler/annealing'"),
    (["hydra.sweeper.objective.metric=test_accuracy", "model.units=choice(16,32)"],
     "the test set is reported, never optimized"),
    (["hydra.sweeper.storage=postgresql://optuna:secret@127.0.0.1:1/optuna", "model.units=choice(16,32)"],
     "hydra.sweeper.storage = 'postgresql://optuna:***@127.0.0.1:1/optuna' cannot be used: cannot open it"),
    (["hydra/sweeper/imdb_sampler=grid", "model.dropout=interval(0.0,0.5)"], "the grid sampler needs a finite set"),
], ids=["choice", "interval", "range", "n_trials", "pruner", "sampler", "objective", "storage", "grid"])
def test_bad_search_input_fails_before_any_run_or_study(tmp_path, cli_env, arguments, message):
    assert_refused_before_any_run_or_study(tmp_path, cli_env, arguments, message)


# -- real searches -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=parallel"]], ids=["basic", "parallel"])
def test_a_search_on_the_real_archive(tmp_path, real_archive, launcher):
    env = {"IMDB_SWEEP_ACLIMDB": str(real_archive), "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"),
           "MLFLOW_TRACKING_URI": ""}
    result = run_cli([*SEARCH, *launcher, "hydra.sweeper.n_trials=4", "hydra.sweeper.pruner=asha",
                      "hydra.sweeper.sampler.seed=3", "data.train_limit=3000", "data.test_limit=500",
                      "train.epochs=3", "train.verbose=0", "tracking.log_model=false",
                      "model.units=choice(16,32)", "model.dropout=interval(0.0,0.5)"],
                     cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    parent, children, study = assert_complete_search(tmp_path, 4)
    assert parent.data.tags[contract.SEARCH_OBJECTIVE] == "best_val_accuracy"
    assert len(children) == 4
    for run in children:
        assert run.data.params["model.units"] in {"16", "32"} and 0 <= float(run.data.params["model.dropout"]) <= 0.5
        pruned = run.data.tags.get(contract.PRUNED_AT_EPOCH)
        epochs = len(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_metric_history(
            run.info.run_id, "val_accuracy"))
        assert epochs == (int(pruned) if pruned else 3)  # a pruned run keeps the curves it trained
    assert f"Search {parent.data.tags[contract.SWEEP_ID]} ended FINISHED" in result.stdout
    assert parent.info.run_name == f"search: units, dropout · {parent.data.tags[contract.SWEEP_ID]}"


@pytest.mark.slow
def test_a_configuration_that_cannot_learn_is_pruned_after_its_first_epoch(tmp_path, real_archive):
    env = {"IMDB_SWEEP_ACLIMDB": str(real_archive), "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"),
           "MLFLOW_TRACKING_URI": ""}
    common = [*SEARCH, "hydra.sweeper.study_name=prune", "hydra.sweeper.pruner=median",
              "hydra.sweeper.pruners.median.n_startup_trials=1", "hydra.sweeper.pruners.median.n_warmup_steps=0",
              "data.train_limit=5000", "data.test_limit=500", "train.epochs=3", "train.verbose=0",
              "tracking.log_model=false"]
    learns = run_cli([*common, "hydra.sweeper.n_trials=1", "train.learning_rate=interval(0.001,0.0011)"],
                     cwd=tmp_path, env=env)
    assert learns.returncode == 0, learns.stderr[-3000:]
    # The same study, one more trial: a learning rate at which nothing moves.
    stuck = run_cli([*common, "hydra.sweeper.n_trials=2", "train.learning_rate=interval(1e-9,1.1e-9)"],
                    cwd=tmp_path, env=env)
    assert stuck.returncode == 0, stuck.stderr[-3000:]
    assert "pruned after epoch 1" in stuck.stdout
    _, parent, children, study = read_search(tmp_path)
    states = {trial.number: trial.state for trial in study.get_trials()}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.PRUNED}
    pruned = [run for run in children if contract.PRUNED_AT_EPOCH in run.data.tags]
    assert len(pruned) == 1 and pruned[0].data.tags[contract.PRUNED_AT_EPOCH] == "1"
    assert float(pruned[0].data.params["train.learning_rate"]) < 1e-8
    assert parent.info.status == "FINISHED"  # reopened for the second trial, ended again
    assert parent.data.tags["best_run_id"] != pruned[0].info.run_id


def start_worker(cwd: Path, env: dict[str, str], arguments: list[str]) -> subprocess.Popen:
    full_env = {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)}
    full_env.pop("IMDB_SWEEP_STATE", None)
    return subprocess.Popen([sys.executable, "-m", "imdb_sweep", *arguments], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def two_workers(tmp_path: Path, env: dict[str, str], arguments: list[str]) -> list[str]:
    workers = [start_worker(tmp_path, env, arguments) for _ in range(2)]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    return outputs


TWO_WORKERS = [*SEARCH, *TINY, "train.epochs=2", "hydra.sweeper.n_trials=6", "hydra.sweeper.pruner=asha",
               "model.units=choice(4,8,16)", "model.dropout=interval(0.0,0.5)"]


@pytest.mark.slow
def test_two_workers_share_one_study_in_the_default_journal_file(tmp_path, cli_env):
    outputs = two_workers(tmp_path, cli_env, TWO_WORKERS)
    parent, children, study = assert_complete_search(tmp_path, 6)
    assert len(children) == 6
    assert sum("Joining search" in output for output in outputs) == 1  # one created it, one joined
    assert len({run.data.tags[contract.PID] for run in children}) == 2  # both workers trained


@pytest.mark.slow
def test_two_workers_share_one_study_on_postgresql(tmp_path, cli_env):
    from tests.helpers.compose_file import postgres_bin, throwaway_postgres

    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (initdb not found; .ci/run installs it)")
    with throwaway_postgres(binaries) as cluster:
        import psycopg

        with psycopg.connect(host=cluster.host, port=cluster.port, user=cluster.user, password=cluster.password,
                             dbname="postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE optuna")  # a database of its own, beside MLflow's
        storage = f"postgresql://{cluster.user}:{cluster.password}@{cluster.host}:{cluster.port}/optuna"
        outputs = two_workers(tmp_path, cli_env, [*TWO_WORKERS, f"hydra.sweeper.storage={storage}"])
        parent, children, study = assert_complete_search(tmp_path, 6, storage)
        assert len(children) == 6
        assert parent.data.tags[contract.SEARCH_STORAGE].startswith(f"postgresql://{cluster.user}:***@")
        assert sum("Joining search" in output for output in outputs) == 1


@pytest.mark.slow
def test_a_killed_search_continues_where_it_stopped(tmp_path, cli_env):
    arguments = [*SEARCH, *TINY, "train.epochs=20", "train.verbose=2", "hydra.sweeper.n_trials=3",
                 "hydra.sweeper.sampler.seed=1", "model.units=choice(4,8,16,32)"]
    worker = start_worker(tmp_path, cli_env, arguments)
    seen = []
    deadline = time.monotonic() + 300
    for line in worker.stdout:
        seen.append(line)
        if line.startswith("[trial 1] Epoch 5/"):
            os.killpg(worker.pid, signal.SIGKILL)  # the worker and everything it started, at once
            break
        assert time.monotonic() < deadline, "the search never reached its second trial:\n" + "".join(seen)
    worker.wait(timeout=60)
    _, parent, children, study = read_search(tmp_path)
    assert parent.info.status == "RUNNING"  # nothing could end it
    killed_trial = trial_records.find_trial(study, 1)
    assert killed_trial.state == TrialState.RUNNING

    rerun = run_cli(arguments, cwd=tmp_path, env=cli_env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Trial 1 failed: its process" in rerun.stdout
    assert "[trial 1]" not in rerun.stdout and "[trial 2]" in rerun.stdout  # the retry, under a number of its own
    parent, children, study = assert_complete_search(tmp_path, 3)
    lost = trial_records.find_trial(study, 1)
    assert lost.state == TrialState.FAIL and contract.TRIAL_LOST_WORKER in lost.user_attrs
    retries = [trial for trial in study.get_trials() if trial.user_attrs.get(contract.TRIAL_RETRY_OF) == 1]
    assert len(retries) == 1 and retries[0].params == lost.params
    # The retry resumed the killed trial's own run from its checkpoint.
    assert "resuming run" in rerun.stdout
    assert all(run.info.status == "FINISHED" for run in children)


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
