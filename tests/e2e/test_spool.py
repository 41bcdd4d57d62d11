"""The tracking server may go away: jobs keep training, spool what they log and send
it in order, once, when it answers (imdb_sweep/tracking/spool.py, sweep/pending.py,
imdb_sweep/sync.py). The slow tests stop and restart a real `mlflow server`."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.entities import LoggedModelStatus, RunStatus
from mlflow.tracking import MlflowClient

from imdb_sweep import contract, sync
from imdb_sweep.sweep.callback import SPOOL_PENDING_EXIT
from imdb_sweep.tracking import spool as spooling
from tests.helpers.cli import TINY
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.processes import StoppableServer, free_port

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

@pytest.fixture(scope="module")
def stoppable_server(tmp_path_factory) -> Iterator[StoppableServer]:
    """One real server for the restart tests (its start is most of a test's time on a
    loaded machine); each test sweeps into an experiment of its own and leaves it
    answering."""
    server = StoppableServer(tmp_path_factory.mktemp("server_store"))
    yield server
    server.close()


def _experiment(request: pytest.FixtureRequest) -> str:
    return request.node.name[:60]


def _start_sweep(tmp_path: Path, archive: Path, uri: str, experiment: str, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "IMDB_SWEEP_ACLIMDB": str(archive), "MLFLOW_TRACKING_URI": uri,
           "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(PROJECT_ROOT),
           "PYTHONUNBUFFERED": "1"}
    env.pop("IMDB_SWEEP_STATE", None)
    output = open(tmp_path / "sweep.out", "w")  # noqa: SIM115 - the child writes to it until it ends
    return subprocess.Popen([sys.executable, "-m", "imdb_sweep", "-m", *TINY, f"tracking.experiment={experiment}",
                             *overrides], cwd=tmp_path, env=env,
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


_OF_EXPERIMENT = "(SELECT experiment_id FROM experiments WHERE name = ?)"


def _logged_epochs(store: Path, experiment: str) -> int:
    """val_accuracy points of the experiment so far, read from the store's database (the server may be away)."""
    try:
        with sqlite3.connect(store / "mlflow.db", timeout=1) as database:
            return database.execute(
                "SELECT count(*) FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
                f"WHERE m.key = 'val_accuracy' AND r.experiment_id = {_OF_EXPERIMENT}", (experiment,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def _assert_whole(store: Path, experiment: str, jobs: int, epochs: int) -> None:
    """Every job run of the experiment FINISHED with each epoch's metrics exactly once,
    the parent FINISHED, nothing RUNNING: read from the server's database itself."""
    with sqlite3.connect(store / "mlflow.db") as database:
        def runs_of_role(role: str) -> dict[str, str]:
            return dict(database.execute(
                "SELECT r.run_uuid, r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                f"WHERE t.key = '{contract.ROLE}' AND t.value = ? AND r.experiment_id = {_OF_EXPERIMENT}",
                (role, experiment)).fetchall())

        statuses = runs_of_role("job")
        assert len(statuses) == jobs and set(statuses.values()) == {"FINISHED"}, statuses
        assert list(runs_of_role("sweep").values()) == ["FINISHED"]
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


def _model_statuses(store: Path, experiment: str) -> list[LoggedModelStatus]:
    with sqlite3.connect(store / "mlflow.db") as database:
        rows = database.execute(f"SELECT status FROM logged_models WHERE experiment_id = {_OF_EXPERIMENT}",
                                (experiment,)).fetchall()
    return [LoggedModelStatus.from_int(status) for (status,) in rows]


# Enough epochs that the server can be stopped while the first job trains (each epoch
# waits on the server while it answers), few enough that a job takes seconds.
EPOCHS = 60


@pytest.mark.slow
def test_a_server_restarted_mid_training_loses_nothing_and_the_next_job_starts_without_it(
        tmp_path, tiny_archive, stoppable_server, request):
    server, experiment = stoppable_server, _experiment(request)
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, experiment, "model.units=8,16", f"train.epochs={EPOCHS}")
    started = time.monotonic()
    try:
        _wait_for(lambda: _logged_epochs(server.store, experiment) >= 3, "a logged epoch", sweep)
        server.stop()  # mid-epoch of job 1
        # Job 1 ends and job 2 starts while the server is away.
        _wait_for(lambda: "[2/2]" in (tmp_path / "sweep.out").read_text(), "job 2's start", sweep)
        server.start()
        sweep.wait(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        _answering(server)
    output = (tmp_path / "sweep.out").read_text()
    assert sweep.returncode == 0, output[-3000:]
    assert "does not answer" in output and "trains anyway" in output
    _assert_whole(server.store, experiment, jobs=2, epochs=EPOCHS)
    assert not list(spooling.pending_spools(tmp_path / "mlruns" / "spool"))
    print(f"outage {server.outages[-1]:.1f} s; sweep wall time {time.monotonic() - started:.1f} s")


@pytest.mark.slow
def test_a_server_still_away_at_the_sweeps_end_is_synced_later_twice_harmlessly(
        tmp_path, tiny_archive, stoppable_server, request):
    server, experiment = stoppable_server, _experiment(request)
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, experiment, "model.units=8,16", f"train.epochs={EPOCHS}",
                         "tracking.log_model=true", "sweep.sync_wait_seconds=1")
    try:
        _wait_for(lambda: _logged_epochs(server.store, experiment) >= 3, "a logged epoch", sweep)
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
        _answering(server)
    _assert_whole(server.store, experiment, jobs=2, epochs=EPOCHS)
    # One model per run, though sent later.
    assert _model_statuses(server.store, experiment).count(LoggedModelStatus.READY) == 2
    assert not list(spooling.pending_spools(root)) and not list((root / "sweeps").glob("*.json"))


@pytest.mark.slow
def test_a_server_stopped_and_started_again_and_again_leaves_every_run_whole(
        tmp_path, tiny_archive, stoppable_server, request):
    """Bounded cycles at whatever point they land (a job's start, mid-epoch, its model
    being logged, the sweep's end): each outage is short, the last ends before the wait
    does. A job may see two outages, the case that once lost epochs 5-10 of a run (the
    second outage's first records skipped; tests/unit/tracking/test_spool_outages.py
    injects it at chosen writes)."""
    server, experiment = stoppable_server, _experiment(request)
    earlier_outages = len(server.outages)  # the shared server's, in earlier tests
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, experiment, "model.units=8,16,24",
                         f"train.epochs={EPOCHS}", "tracking.log_model=true")
    started = time.monotonic()
    try:
        _wait_for(lambda: _logged_epochs(server.store, experiment) >= 1, "a logged epoch", sweep)
        for _ in range(3):
            server.stop()
            time.sleep(2)
            server.start()
            if sweep.poll() is not None:
                break
            time.sleep(4)
        sweep.wait(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        _answering(server)
    output = (tmp_path / "sweep.out").read_text()
    assert sweep.returncode == 0, output[-3000:]
    _assert_whole(server.store, experiment, jobs=3, epochs=EPOCHS)
    statuses = _model_statuses(server.store, experiment)
    assert statuses.count(LoggedModelStatus.READY) == 3, statuses  # one whole model per run, whenever it was sent
    print(f"outages of {', '.join(f'{o:.1f}' for o in server.outages[earlier_outages:])} s; "
          f"sweep wall time {time.monotonic() - started:.1f} s")


def _answering(server: StoppableServer) -> None:
    """The shared server left started for the next test, whatever this one did."""
    if server.process is None or server.process.poll() is not None:
        server.start()


@pytest.mark.slow
def test_a_search_ended_while_the_server_is_away_is_ended_finished_by_the_sync_command(
        tmp_path, tiny_archive, stoppable_server, request):
    """The search's end, decided from its study (which answers), is kept beside the
    spools; the sync command sends the trials' runs, then ends the parent FINISHED with
    the study's counts."""
    server, experiment = stoppable_server, _experiment(request)
    sweep = _start_sweep(tmp_path, tiny_archive, server.uri, experiment, "hydra/sweeper=imdb_optuna",
                         "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=1", "model.dropout=interval(0.0,0.5)",
                         f"train.epochs={EPOCHS}", "sweep.sync_wait_seconds=1")
    root = tmp_path / "mlruns" / "spool"
    try:
        _wait_for(lambda: _logged_epochs(server.store, experiment) >= 3, "a logged epoch", sweep)
        server.stop()
        sweep.wait(timeout=300)
        output = (tmp_path / "sweep.out").read_text()
        assert "still does not answer" in output and f"python -m imdb_sweep.sync {root}" in output, output[-3000:]
        assert len(list((root / "sweeps").glob("*.json"))) == 1  # the search's end, kept

        server.start()
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        result = subprocess.run([sys.executable, "-m", "imdb_sweep.sync", str(root)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    finally:
        if sweep.poll() is None:
            sweep.kill()
        _answering(server)
    _assert_whole(server.store, experiment, jobs=2, epochs=EPOCHS)
    client = MlflowClient(server.uri)
    (parent,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                                   filter_string=f"tags.`{contract.ROLE}` = 'sweep'")
    assert parent.data.metrics["trials_complete"] == 2 and parent.data.metrics["trials_failed"] == 0
    assert not list(spooling.pending_spools(root)) and not list((root / "sweeps").glob("*.json"))
