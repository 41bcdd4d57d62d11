"""The tracking server may go away: jobs keep training, spool what they log and send
it in order, once, when it answers (imdb_sweep/tracking/spool.py, sweep/pending.py,
imdb_sweep/sync.py). The slow tests stop and restart a real `mlflow server`."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.entities import LoggedModelStatus, RunStatus
from mlflow.tracking import MlflowClient

from imdb_sweep import contract, sync
from imdb_sweep.sweep.callback import SPOOL_PENDING_EXIT
from imdb_sweep.tracking import spool as spooling
from tests.helpers.cli import TINY
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.processes import free_port, start_mlflow_server, stop_process

SERVER = "http://127.0.0.1:5999"
EPOCH_METRICS = (contract.LOSS, contract.ACCURACY, contract.VAL_LOSS, contract.VAL_ACCURACY, contract.EPOCH_SECONDS)


# ---------------------------------------------------------------------------
# A spool written while the server is away, sent to a real server
# ---------------------------------------------------------------------------

def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(point.step for point in client.get_metric_history(run_id, key))


@pytest.mark.slow
def test_a_spool_written_offline_is_sent_in_order_and_a_resent_one_changes_nothing(
        mlflow_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the dead address answers at once
    client = MlflowClient(mlflow_server)
    experiment_id = client.create_experiment(f"spool-{tmp_path.name}")
    dead = f"http://127.0.0.1:{free_port()}"
    said: list[str] = []
    job = spooling.RunSpool.new(tmp_path / "spool", dead, experiment_id, label="[1/1] units=8",
                                say=said.append)
    job.create_run("units=8", {contract.ROLE: "job", contract.CONFIG_HASH: "abc"})
    job.log_params({"model.units": "8"})
    for epoch in (1, 2, 3):
        job.log_metrics({contract.VAL_ACCURACY: 0.5 + epoch / 10}, step=epoch)
    job.log_text("epoch,val_accuracy\n", "history.csv")
    job.log_metrics({contract.TEST_ACCURACY: 0.7})
    job.end(RunStatus.FINISHED)
    assert job.run_id is None and job.pending == 8
    assert any("does not answer" in line and str(job.folder) in line for line in said)

    # From "another machine": the same folder, the server's live address.
    assert spooling.send_spools([job.folder], 0, said.append, tracking_uri=mlflow_server) == []
    assert not job.folder.exists()  # everything sent: the folder goes
    (run,) = client.search_runs([experiment_id])
    assert run.info.status == "FINISHED" and run.data.params == {"model.units": "8"}
    assert run.data.tags[contract.CONFIG_HASH] == "abc" and run.data.tags[contract.SPOOL_ID] == job.folder.name
    assert _steps(client, run.info.run_id, contract.VAL_ACCURACY) == [1, 2, 3]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["history.csv"]

    # The same records sent again, as after an answer lost on the way back: the run is
    # found by its spool id, and no step or run is duplicated.
    again = spooling.RunSpool.new(tmp_path / "spool", dead, experiment_id)
    again.folder = job.folder
    again.create_run("units=8", {})
    for epoch in (2, 3, 4):
        again.log_metrics({contract.VAL_ACCURACY: 0.9}, step=epoch)
    again.end(RunStatus.FINISHED)
    assert spooling.send_spools([job.folder], 0, said.append, tracking_uri=mlflow_server) == []
    (run,) = client.search_runs([experiment_id])
    assert _steps(client, run.info.run_id, contract.VAL_ACCURACY) == [1, 2, 3, 4]
    assert sync.main([str(tmp_path / "spool")]) == 0  # twice is harmless


@pytest.mark.slow
def test_a_full_spool_stops_the_job_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    job = spooling.RunSpool.new(tmp_path, f"http://127.0.0.1:{free_port()}", "1", max_megabytes=0.001,
                                say=lambda _: None)
    job.create_run("units=8", {})
    with pytest.raises(spooling.SpoolFullError, match="tracking.spool_max_megabytes = 0.001"):
        for epoch in range(1, 100):
            job.log_metrics({contract.VAL_ACCURACY: 0.5}, step=epoch)
    assert job.pending > 1  # what it kept stays, for the sync command


# ---------------------------------------------------------------------------
# A real sweep against a real server stopped and started again
# ---------------------------------------------------------------------------

class StoppableServer:
    """A real `mlflow server` over a SQLite store that can be stopped and started
    again on the same port, as a restarted shared server is."""

    def __init__(self, store: Path):
        self.store = store
        self.process, self.uri = start_mlflow_server(store)
        self.port = int(self.uri.rsplit(":", 1)[1])
        self.outages: list[float] = []
        self._stopped_at: float | None = None

    def stop(self) -> None:
        stop_process(self.process)
        self._stopped_at = time.monotonic()

    def start(self) -> None:
        self.process, _ = start_mlflow_server(self.store, port=self.port)
        if self._stopped_at is not None:
            self.outages.append(time.monotonic() - self._stopped_at)

    def close(self) -> None:
        if self.process.poll() is None:
            stop_process(self.process)


def _start_sweep(tmp_path: Path, archive: Path, uri: str, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "IMDB_SWEEP_ACLIMDB": str(archive), "MLFLOW_TRACKING_URI": uri,
           "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(PROJECT_ROOT),
           "PYTHONUNBUFFERED": "1"}
    env.pop("IMDB_SWEEP_STATE", None)
    output = open(tmp_path / "sweep.out", "w")  # noqa: SIM115 - the child writes to it until it ends
    return subprocess.Popen([sys.executable, "-m", "imdb_sweep", "-m", *TINY, *overrides], cwd=tmp_path, env=env,
                            stdout=output, stderr=subprocess.STDOUT, text=True)


def _wait_for(condition, what: str, sweep: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if sweep.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {sweep.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def _logged_epochs(store: Path) -> int:
    """val_accuracy points in the store so far, read from its database (the server may be away)."""
    try:
        with sqlite3.connect(store / "mlflow.db", timeout=1) as database:
            return database.execute("SELECT count(*) FROM metrics WHERE key = 'val_accuracy'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _assert_whole(store: Path, jobs: int, epochs: int) -> None:
    """Every job run FINISHED with each epoch's metrics exactly once, the parent FINISHED,
    nothing RUNNING: read from the server's database itself."""
    with sqlite3.connect(store / "mlflow.db") as database:
        statuses = dict(database.execute(
            "SELECT r.run_uuid, r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            f"WHERE t.key = '{contract.ROLE}' AND t.value = 'job'").fetchall())
        parents = [status for (status,) in database.execute(
            "SELECT r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            f"WHERE t.key = '{contract.ROLE}' AND t.value = 'sweep'")]
        assert len(statuses) == jobs and set(statuses.values()) == {"FINISHED"}, statuses
        assert parents == ["FINISHED"]
        for run_id in statuses:
            for key in EPOCH_METRICS:
                steps = [step for (step,) in database.execute(
                    "SELECT step FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step", (run_id, key))]
                assert steps == list(range(1, epochs + 1)), (run_id, key, steps)
            (test_points,) = database.execute(
                "SELECT count(*) FROM metrics WHERE run_uuid = ? AND key = 'test_accuracy'", (run_id,)).fetchone()
            assert test_points == 1
            (parent,) = database.execute(
                f"SELECT count(*) FROM tags WHERE run_uuid = ? AND key = '{contract.PARENT_RUN_ID}'",
                (run_id,)).fetchone()
            assert parent == 1


def _model_statuses(store: Path) -> list[LoggedModelStatus]:
    with sqlite3.connect(store / "mlflow.db") as database:
        rows = database.execute("SELECT status FROM logged_models").fetchall()
    return [LoggedModelStatus.from_int(status) for (status,) in rows]


# Enough epochs that the server can be stopped while the first job trains (each epoch
# waits on the server while it answers), few enough that a job takes seconds.
EPOCHS = 60


@pytest.mark.slow
def test_a_server_restarted_mid_training_loses_nothing_and_the_next_job_starts_without_it(
        tmp_path, tiny_archive):
    server = StoppableServer(tmp_path / "server_store")
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, "model.units=8,16", f"train.epochs={EPOCHS}")
    started = time.monotonic()
    try:
        _wait_for(lambda: _logged_epochs(server.store) >= 3, "a logged epoch", sweep)
        server.stop()  # mid-epoch of job 1
        # Job 1 ends and job 2 starts while the server is away.
        _wait_for(lambda: "[2/2]" in (tmp_path / "sweep.out").read_text(), "job 2's start", sweep)
        time.sleep(1)
        server.start()
        sweep.wait(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        server.close()
    output = (tmp_path / "sweep.out").read_text()
    assert sweep.returncode == 0, output[-3000:]
    assert "does not answer" in output and "trains anyway" in output
    _assert_whole(server.store, jobs=2, epochs=EPOCHS)
    assert not list(spooling.pending_spools(tmp_path / "mlruns" / "spool"))
    print(f"outage {server.outages[0]:.1f} s; sweep wall time {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_a_server_still_away_at_the_sweeps_end_is_synced_later_twice_harmlessly(tmp_path, tiny_archive):
    server = StoppableServer(tmp_path / "server_store")
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, "model.units=8,16", f"train.epochs={EPOCHS}",
                         "tracking.log_model=true", "sweep.sync_wait_seconds=3")
    try:
        _wait_for(lambda: _logged_epochs(server.store) >= 3, "a logged epoch", sweep)
        server.stop()
        sweep.wait(timeout=300)
        output = (tmp_path / "sweep.out").read_text()
        assert sweep.returncode == SPOOL_PENDING_EXIT, output[-3000:]
        root = tmp_path / "mlruns" / "spool"
        assert "still does not answer" in output and f"python -m imdb_sweep.sync {root}" in output
        assert len(list(spooling.pending_spools(root))) == 2

        server.start()
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        for attempt in (1, 2):  # the second finds nothing left to do
            result = subprocess.run([sys.executable, "-m", "imdb_sweep.sync", str(root)], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, (attempt, result.stdout[-2000:], result.stderr[-3000:])
    finally:
        if sweep.poll() is None:
            sweep.kill()
        server.close()
    _assert_whole(server.store, jobs=2, epochs=EPOCHS)
    assert _model_statuses(server.store).count(LoggedModelStatus.READY) == 2  # one per run, though sent later
    assert not list(spooling.pending_spools(root)) and not list((root / "sweeps").glob("*.json"))


@pytest.mark.slow
# A known defect of the spool, open in issue 24: in one of two clean-clone runs a run
# lost epochs 5-10 of its `loss` across the restart cycles (steps 1-4, then 11 on). The
# test keeps running and reports XPASS when the cycles happen to miss it; strict=False
# so that its chance timing neither fails CI nor hides the defect.
@pytest.mark.xfail(strict=False, reason="spool defect (issue 24): a restart cycle can lose a run's epoch metrics")
def test_a_server_stopped_and_started_again_and_again_leaves_every_run_whole(tmp_path, tiny_archive):
    """Bounded cycles at whatever point they land (a job's start, mid-epoch, its model
    being logged, the sweep's end): each outage is short, the last ends before the wait does."""
    server = StoppableServer(tmp_path / "server_store")
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, "model.units=8,16,24", f"train.epochs={EPOCHS}",
                         "tracking.log_model=true")
    started = time.monotonic()
    try:
        _wait_for(lambda: _logged_epochs(server.store) >= 1, "a logged epoch", sweep)
        for _ in range(3):
            server.stop()
            time.sleep(4)
            server.start()
            if sweep.poll() is not None:
                break
            time.sleep(6)
        sweep.wait(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        server.close()
    output = (tmp_path / "sweep.out").read_text()
    assert sweep.returncode == 0, output[-3000:]
    _assert_whole(server.store, jobs=3, epochs=EPOCHS)
    statuses = _model_statuses(server.store)
    assert statuses.count(LoggedModelStatus.READY) == 3, statuses  # one whole model per run, whenever it was sent
    print(f"{len(server.outages)} outage(s) of {', '.join(f'{o:.1f}' for o in server.outages)} s; "
          f"sweep wall time {time.monotonic() - started:.1f} s")
