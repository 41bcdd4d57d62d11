"""Searches on the command line: bad input refused before any run or study exists, searches on the real
archive with both local launchers and pruning, two workers on one study (journal file and
PostgreSQL), a kill -9 and a rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from imdb_sweep import contract
from imdb_sweep.search import trials as trial_records
from tests.helpers.cli import TINY, cli_environment, run_cli
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.searches import (
    SEARCH,
    assert_complete_search,
    assert_refused_before_any_run_or_study,
    read_search,
)


@pytest.mark.slow
def test_a_search_jobs_model_holds_the_epoch_its_objective_stands_for(tmp_path, cli_env):
    # At this rate the tiny task is learnt early: best_val_accuracy would keep an earlier epoch.
    result = run_cli([*SEARCH, "hydra.sweeper.n_trials=1", "hydra.sweeper.objective.metric=final_val_loss",
                      "model.units=choice(8)", *TINY, "tracking.log_model=true", "train.epochs=3",
                      "train.learning_rate=0.01"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = [run for run in client.search_runs([client.get_experiment_by_name("imdb-sweep").experiment_id])
              if run.data.tags.get(contract.ROLE) == "job"]
    assert run.data.metrics["best_epoch"] < 3 and run.data.metrics["model_epoch"] == 3  # the last epoch's
    assert run.data.metrics["model_test_accuracy"] == run.data.metrics["test_accuracy"]


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


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=parallel"]], ids=["basic", "parallel"])
def test_a_search_on_the_real_archive(tmp_path, real_archive, launcher):
    env = cli_environment(real_archive, tmp_path / "cache")
    result = run_cli([*SEARCH, *launcher, "hydra.sweeper.n_trials=4", "hydra.sweeper.pruner=asha",
                      "hydra.sweeper.sampler.seed=3", "data.train_limit=3000", "data.test_limit=500",
                      "train.epochs=3", "runtime.verbose=0", "tracking.log_model=false",
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
def test_a_configuration_that_cannot_learn_is_pruned_before_its_last_epoch(tmp_path, real_archive):
    """On 4,000 reviews the learning trial's first epoch may still sit at the class
    balance (0.52), where the stuck one sits throughout; from its second epoch on it is
    far above (about 0.8), so the median pruner stops the stuck trial after epoch 1 or 2,
    never letting it run its third."""
    env = cli_environment(real_archive, tmp_path / "cache")
    common = [*SEARCH, "hydra.sweeper.study_name=prune", "hydra.sweeper.pruner=median",
              "hydra.sweeper.pruners.median.n_startup_trials=1", "hydra.sweeper.pruners.median.n_warmup_steps=0",
              "data.train_limit=5000", "data.test_limit=500", "train.epochs=3", "runtime.verbose=0",
              "tracking.log_model=false"]
    # The random sampler's first draw with seed 2 is the learning rate that learns (0.001).
    space = ["hydra/sweeper/imdb_sampler=random", "hydra.sweeper.sampler.seed=2",
             "train.learning_rate=choice(0.001,1e-9)"]
    learns = run_cli([*common, *space, "hydra.sweeper.n_trials=1"], cwd=tmp_path, env=env)
    assert learns.returncode == 0, learns.stderr[-3000:]
    # The same study, one more trial: a learning rate at which nothing moves, enqueued
    # (a study keeps its space: the same name with another one is refused).
    read_search(tmp_path)[3].enqueue_trial({"train.learning_rate": 1e-9})
    stuck = run_cli([*common, *space, "hydra.sweeper.n_trials=2"], cwd=tmp_path, env=env)
    assert stuck.returncode == 0, stuck.stderr[-3000:]
    assert "pruned after epoch 1" in stuck.stdout or "pruned after epoch 2" in stuck.stdout
    _, parent, children, study = read_search(tmp_path)
    states = {trial.number: trial.state for trial in study.get_trials()}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.PRUNED}
    pruned = [run for run in children if contract.PRUNED_AT_EPOCH in run.data.tags]
    assert len(pruned) == 1 and pruned[0].data.tags[contract.PRUNED_AT_EPOCH] in ("1", "2")
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
    arguments = [*SEARCH, *TINY, "train.epochs=20", "runtime.verbose=2", "hydra.sweeper.n_trials=3",
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
