"""Sweeps that survive failure, on the command line: a rerun skips finished jobs, and an
interrupted sweep resumes where it stopped."""

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
from tests.helpers.cli import TINY as SHARED_TINY
from tests.helpers.cli import run_cli
from tests.helpers.paths import PROJECT_ROOT

TINY = [*(override for override in SHARED_TINY if not override.startswith("runtime.verbose=")), "runtime.verbose=2"]
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
