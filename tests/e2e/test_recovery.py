"""Sweeps that survive failure: skip finished jobs, resume interrupted ones, reap dead runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.tracking.liveness import reap_dead_runs
from tests.helpers.cli import TINY as SHARED_TINY
from tests.helpers.cli import run_cli
from tests.helpers.paths import PROJECT_ROOT

TINY = [*(override for override in SHARED_TINY if not override.startswith("train.verbose=")), "train.verbose=2"]
EPOCHS = 30


def store_runs(cwd: Path) -> tuple[MlflowClient, str, list]:
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sweep")
    return client, experiment.experiment_id, client.search_runs([experiment.experiment_id])


def jobs_of(runs: list) -> list:
    return [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]


@pytest.mark.slow
def test_a_rerun_skips_finished_jobs_and_rerun_all_trains_again(tmp_path, cli_env):
    sweep = ["-m", *TINY, "train.epochs=1", "model.units=8,16"]
    first = run_cli(sweep, cwd=tmp_path, env=cli_env)
    assert first.returncode == 0, first.stderr[-2000:]
    _, _, runs = store_runs(tmp_path)
    original = {run.info.run_name: run.info.run_id for run in jobs_of(runs)}

    second = run_cli(sweep, cwd=tmp_path, env=cli_env)
    assert second.returncode == 0, second.stderr[-2000:]
    for run_id in original.values():
        assert f"skipped: FINISHED run {run_id}" in second.stdout
    assert "Epoch" not in second.stdout
    client, _, runs = store_runs(tmp_path)
    assert len(jobs_of(runs)) == 2
    newest_parent = max((r for r in runs if r.data.tags.get(contract.ROLE) == "sweep"),
                        key=lambda r: r.info.start_time)
    assert newest_parent.info.status == "FINISHED"
    assert newest_parent.data.metrics["jobs_skipped"] == 2
    reused = {v for k, v in newest_parent.data.tags.items() if k.startswith(contract.REUSED_PREFIX)}
    assert reused == set(original.values())
    # The new sweep's comparison table still lists every configuration.
    from imdb_sweep.report.runs import select_runs

    selection = select_runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "imdb-sweep")
    assert selection.parent_run_id == newest_parent.info.run_id
    assert {job.run_id for job in selection.finished} == set(original.values())
    assert "| 8 |" in second.stdout and "| 16 |" in second.stdout

    third = run_cli([*sweep, "sweep.rerun=all"], cwd=tmp_path, env=cli_env)
    assert third.returncode == 0, third.stderr[-2000:]
    _, _, runs = store_runs(tmp_path)
    assert len(jobs_of(runs)) == 4 and all(run.info.status == "FINISHED" for run in jobs_of(runs))


def start_sweep(cwd: Path, env: dict[str, str], arguments: list[str]) -> subprocess.Popen:
    full_env = {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)}
    full_env.pop("IMDB_SWEEP_STATE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "imdb_sweep", *arguments], cwd=cwd, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def interrupt_in_second_job(process: subprocess.Popen, signal_number: int, at_epoch: int) -> str:
    """Read the sweep's output until job 2 starts epoch `at_epoch`, then signal it."""
    seen: list[str] = []
    in_second_job = False
    deadline = time.monotonic() + 300
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        in_second_job = in_second_job or line.startswith("[2/3]")
        # Keras's lines carry their job's label (imdb_sweep/console.py).
        if in_second_job and line.startswith(f"[2/3] Epoch {at_epoch}/"):
            process.send_signal(signal_number)
            break
        assert time.monotonic() < deadline, "the sweep never reached job 2"
    rest, _ = process.communicate(timeout=120)
    return "".join(seen) + rest


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path, cli_env, signal_number):
    sweep = ["-m", *TINY, f"train.epochs={EPOCHS}", "model.units=4,8,16"]
    output = interrupt_in_second_job(start_sweep(tmp_path, cli_env, sweep), signal_number, at_epoch=5)

    client, experiment_id, runs = store_runs(tmp_path)
    by_name = {run.info.run_name: run for run in jobs_of(runs)}
    assert set(by_name) == {"units=4", "units=8"}, output[-2000:]
    assert by_name["units=4"].info.status == "FINISHED"
    killed = by_name["units=8"]
    parent = next(run for run in runs if run.data.tags.get(contract.ROLE) == "sweep")
    if signal_number == signal.SIGTERM:
        assert killed.info.status == "KILLED" and parent.info.status == "KILLED"
        assert "Interrupted (received SIGTERM)" in output
    else:
        # Nothing could mark them: they stay RUNNING until the next invocation.
        assert killed.info.status == "RUNNING" and parent.info.status == "RUNNING"
    epochs_before = len(client.get_metric_history(killed.info.run_id, "val_accuracy"))
    assert 4 <= epochs_before < EPOCHS

    rerun = run_cli(sweep, cwd=tmp_path, env=cli_env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    first_id = by_name["units=4"].info.run_id
    assert f"[1/3] model.units=4 skipped: FINISHED run {first_id}" in rerun.stdout
    assert f"[2/3] model.units=8 resuming run {killed.info.run_id} after epoch" in rerun.stdout
    if signal_number == signal.SIGKILL:
        assert f"Marked run {killed.info.run_id} KILLED" in rerun.stdout
        assert f"Marked run {parent.info.run_id} KILLED" in rerun.stdout

    _, _, runs = store_runs(tmp_path)
    jobs = jobs_of(runs)
    assert not [run for run in runs if run.info.status == "RUNNING"]
    finished = [run for run in jobs if run.info.status == "FINISHED"]
    assert sorted(run.info.run_name for run in finished) == ["units=16", "units=4", "units=8"]
    assert len({run.data.tags[contract.CONFIG_HASH] for run in finished}) == 3
    assert len(jobs) == 3  # The interrupted job went on in its own run.

    resumed = next(run for run in finished if run.info.run_name == "units=8")
    resumed_at = int(resumed.data.tags[contract.RESUMED_AT_EPOCH])
    assert resumed_at >= 4
    assert f"Epoch {resumed_at + 1}/{EPOCHS}" in rerun.stdout
    second_job_lines = [line for line in rerun.stdout.splitlines() if line.startswith("[2/3] ")]
    assert f"[2/3] Epoch {resumed_at + 1}/{EPOCHS}" in second_job_lines
    assert f"[2/3] Epoch {resumed_at}/{EPOCHS}" not in second_job_lines
    for metric in ("val_accuracy", "loss", "epoch_seconds"):
        steps = sorted(point.step for point in client.get_metric_history(resumed.info.run_id, metric))
        assert steps == list(range(1, EPOCHS + 1)), metric
    assert resumed.data.metrics["best_epoch"] >= 1
    assert not any((tmp_path / "mlruns" / "checkpoints").iterdir())


def test_reaper_marks_only_provably_dead_runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("reap", artifact_location=(tmp_path / "a").as_uri())
    finished_process = subprocess.Popen(["true"])
    finished_process.wait()
    import socket

    here = socket.gethostname()
    now = time.time()
    cases = {
        "dead_pid_here": {contract.HOST: here, contract.PID: str(finished_process.pid)},
        "live_pid_here": {contract.HOST: here, contract.PID: str(os.getpid())},
        "silent_elsewhere": {contract.HOST: "other-host", contract.PID: "1", contract.HEARTBEAT: f"{now - 3600:.0f}"},
        "beating_elsewhere": {contract.HOST: "other-host", contract.PID: "1", contract.HEARTBEAT: f"{now:.0f}"},
    }
    ids = {}
    for name, run_tags in cases.items():
        run = client.create_run(experiment_id, run_name=name, tags={contract.ROLE: "job", **run_tags})
        ids[name] = run.info.run_id
    foreign = client.create_run(experiment_id, run_name="not ours").info.run_id

    reaped = reap_dead_runs(client, experiment_id, dead_after_seconds=600)
    assert set(reaped) == {ids["dead_pid_here"], ids["silent_elsewhere"]}
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {"dead_pid_here": "KILLED", "live_pid_here": "RUNNING",
                      "silent_elsewhere": "KILLED", "beating_elsewhere": "RUNNING"}
    assert "is gone" in client.get_run(ids["dead_pid_here"]).data.tags[contract.ERROR]
    assert "no heartbeat" in client.get_run(ids["silent_elsewhere"]).data.tags[contract.ERROR]
    assert client.get_run(foreign).info.status == "RUNNING"


def test_deterministic_training_repeats_exactly(tiny_config):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.training.fit import train

    cfg = tiny_config("train.epochs=3", "train.deterministic=true", "model.dropout=0.3")
    data = load_imdb(cfg.data)
    first, second = train(cfg, data), train(cfg, data)
    assert first.history == second.history
    assert first.test_loss == second.test_loss


def test_resuming_from_a_checkpoint_continues_the_history(tiny_config, tmp_path):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import train

    data = load_imdb(tiny_config().data)
    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    partial = train(tiny_config("train.epochs=2"), data, checkpoints=store, run_id="run-1")
    state = store.load_state()
    assert state is not None and state.epochs_done == 2 and state.run_id == "run-1"
    assert state.history["val_accuracy"] == partial.history["val_accuracy"]

    resumed = train(tiny_config("train.epochs=4"), data, checkpoints=store, run_id="run-1", resume=state)
    assert len(resumed.history["val_accuracy"]) == 4
    assert resumed.history["loss"][:2] == partial.history["loss"]
    assert store.load_state().epochs_done == 4
    # The optimizer state came back too: its step counter went on from epoch 2.
    training_rows = int(len(data.x_train) * (1 - 0.2))
    steps_per_epoch = -(-training_rows // 8)
    assert int(resumed.model.optimizer.iterations) == 4 * steps_per_epoch


def test_a_resumed_checkpoint_keeps_the_best_epoch_from_before_the_interruption(tiny_config, tmp_path):
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import choose_model_epoch, train
    from tests.helpers.training import MIN_VAL_LOSS, overfitting_data, same_weights

    cfg = tiny_config("train.epochs=6", "train.learning_rate=0.01")
    data = overfitting_data(cfg)
    uninterrupted = train(cfg, data, model_epoch_rule=MIN_VAL_LOSS)
    assert uninterrupted.model_epoch <= 2  # the data puts the best epoch before the interruption

    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    train(tiny_config("train.epochs=2", "train.learning_rate=0.01"), data, checkpoints=store, run_id="run-1",
          model_epoch_rule=MIN_VAL_LOSS)
    state = store.load_state()
    assert state.kept_epochs == {"min_val_loss": uninterrupted.model_epoch}
    assert sorted(path.name for path in store.folder.glob("kept-*")) == [
        f"kept-min_val_loss-{uninterrupted.model_epoch}.npz"]

    resumed = train(cfg, data, checkpoints=store, run_id="run-1", resume=state, model_epoch_rule=MIN_VAL_LOSS)
    assert resumed.history == uninterrupted.history
    assert resumed.model_epoch == uninterrupted.model_epoch
    assert same_weights(resumed.model_weights, uninterrupted.model_weights)
    resumed_model = choose_model_epoch(resumed, cfg, data)
    uninterrupted_model = choose_model_epoch(uninterrupted, cfg, data)
    assert (resumed_model.test_accuracy, resumed_model.test_loss) == (
        uninterrupted_model.test_accuracy, uninterrupted_model.test_loss)


def test_early_stopping_resumed_from_a_checkpoint_stops_and_restores_as_uninterrupted(tiny_config, tmp_path):
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import train
    from tests.helpers.training import overfitting_data, same_weights

    patience = ("train.learning_rate=0.01", "train.early_stopping_patience=2")
    cfg = tiny_config("train.epochs=6", *patience)
    data = overfitting_data(cfg)
    uninterrupted = train(cfg, data)
    stopped_after = len(uninterrupted.history["val_accuracy"])
    assert uninterrupted.best_epoch <= 2 < stopped_after < 6  # stopped early, best epoch before the interruption

    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    train(tiny_config("train.epochs=2", *patience), data, checkpoints=store, run_id="run-1")
    resumed = train(cfg, data, checkpoints=store, run_id="run-1", resume=store.load_state())
    # Counted from epoch 1, not from the resumed epoch: it stops where the uninterrupted run did...
    assert resumed.history == uninterrupted.history
    # ...and the test split measures the same best epoch's weights.
    assert (resumed.model_epoch, resumed.model_weights) == (uninterrupted.best_epoch, None)
    assert same_weights(resumed.model.get_weights(), uninterrupted.model.get_weights())
    assert (resumed.test_accuracy, resumed.test_loss) == (uninterrupted.test_accuracy, uninterrupted.test_loss)
