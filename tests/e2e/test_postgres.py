"""The docker-compose server, run natively: a throwaway PostgreSQL cluster, `mlflow server`
started exactly as docker-compose.yml declares it (the plain postgresql:// URI, which
SQLAlchemy 2.1 opens with psycopg 3), and sweeps against it over HTTP (the joblib launcher
included), plus the postgresql+psycopg2:// form, the basic-auth override and the
host-header check."""

from __future__ import annotations

import base64
import configparser
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests.helpers import compose_file
from tests.helpers.cli import TINY, cli_environment, run_cli
from tests.helpers.compose_file import Postgres, postgres_bin, start_compose_server, throwaway_postgres
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.processes import stop_process
from tests.helpers.searches import SEARCH, assert_complete_search

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (initdb not found; .ci/run installs it: "
                    "apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg (3) is not installed")
    with throwaway_postgres(binaries) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def compose_server(postgres, tmp_path_factory) -> Iterator[str]:
    process, uri = start_compose_server(compose_file.load(), postgres,
                                        tmp_path_factory.mktemp("compose_server"))
    yield uri
    stop_process(process)


def database_counts(cluster: Postgres, experiment: str) -> dict[str, object]:
    """Runs and metric points of one experiment, read straight from PostgreSQL."""
    with cluster.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.run_uuid, r.status,
                      (SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid
                         AND t.key = 'mlflow.parentRunId')
               FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id
               WHERE e.name = %s""", (experiment,))
        runs = cursor.fetchall()
        cursor.execute(
            """SELECT m.run_uuid, m.key, m.step, count(*) FROM metrics m
               JOIN runs r ON r.run_uuid = m.run_uuid
               JOIN experiments e ON e.experiment_id = r.experiment_id
               WHERE e.name = %s GROUP BY m.run_uuid, m.key, m.step""", (experiment,))
        points = cursor.fetchall()
    return {"runs": runs, "points": points}


def runs_in_database(cluster: Postgres, experiment: str) -> list[tuple[str, str]]:
    """(run name, status) of the runs of one experiment, read straight from PostgreSQL."""
    with cluster.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.name, r.status FROM runs r
               JOIN experiments e ON e.experiment_id = r.experiment_id
               WHERE e.name = %s""", (experiment,))
        return cursor.fetchall()


def log_one_run(tracking_uri: str, experiment: str) -> None:
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name="one")
    client.log_metric(run.info.run_id, "accuracy", 0.5)
    client.set_terminated(run.info.run_id, "FINISHED")


def test_the_compose_server_runs_on_the_plain_postgresql_uri(compose_server, postgres):
    uri = compose_file.backend_store_uri(compose_file.mlflow_command(
        compose_file.load(), compose_file.compose_env(postgres)))
    assert uri.startswith("postgresql://"), uri
    # The URI every MLflow and SQLAlchemy page shows; SQLAlchemy 2.1 opens it with psycopg 3.
    assert sqlalchemy.engine.make_url(uri).get_dialect().driver == "psycopg"
    log_one_run(compose_server, "pg-plain-uri")
    assert runs_in_database(postgres, "pg-plain-uri") == [("one", "FINISHED")]


def test_the_psycopg2_form_of_the_uri_still_works(postgres, tmp_path):
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed")
    process, uri = start_compose_server(compose_file.load(), postgres, tmp_path,
                                        backend_scheme="postgresql+psycopg2")
    try:
        assert compose_file.backend_store_uri(process.args).startswith("postgresql+psycopg2://")
        log_one_run(uri, "pg-psycopg2-uri")
    finally:
        stop_process(process)
    assert runs_in_database(postgres, "pg-psycopg2-uri") == [("one", "FINISHED")]


def test_a_parallel_sweep_against_the_compose_server_on_postgres(
    compose_server, postgres, tiny_archive, tmp_path
):
    env = cli_environment(tiny_archive, tmp_path / "cache", compose_server)
    result = run_cli(["-m", "hydra/launcher=parallel", *TINY, "train.epochs=2",
                      "model.units=8,16,24", "tracking.experiment=pg-parallel"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-6000:]
    assert "ended FINISHED: 3 finished" in result.stdout

    counts = database_counts(postgres, "pg-parallel")
    parents = [run for run in counts["runs"] if run[2] is None]
    jobs = [run for run in counts["runs"] if run[2] is not None]
    assert len(parents) == 1 and len(jobs) == 3, counts["runs"]
    assert {parent_id for _, _, parent_id in jobs} == {parents[0][0]}
    assert all(status == "FINISHED" for _, status, _ in counts["runs"])
    # Every epoch of every job, each point once.
    epoch_points = [(run, step) for run, key, step, n in counts["points"] if key == "val_accuracy"]
    assert sorted(step for _, step in epoch_points) == [1, 1, 1, 2, 2, 2]
    assert all(n == 1 for *_, n in counts["points"])


def restart_postgres_midway(postgres: Postgres, process: subprocess.Popen, reached: Callable[[], bool],
                            pause: float, output: Path) -> None:
    """Once `reached()` (the process is mid-training), stop PostgreSQL for `pause` seconds
    and start it again; then wait for the process to end (killed if it outlives 600 s)."""
    try:
        deadline = time.monotonic() + 300
        while not reached():
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()[-3000:]
            time.sleep(0.2)
        postgres.stop()
        time.sleep(pause)
        postgres.start()
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()


def test_postgres_restarted_mid_sweep_leaves_every_run_whole(compose_server, postgres, tiny_archive, tmp_path):
    """PostgreSQL behind the server restarted while a sweep trains (issue 24): meanwhile
    the server answers 5xx (its /health still 200), the jobs keep training and spool,
    then send; every run FINISHED, every epoch once."""
    epochs = 60  # a job lasts seconds: the restart lands mid-training
    env = {**os.environ, **cli_environment(tiny_archive, tmp_path / "cache", compose_server),
           "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("IMDB_SWEEP_STATE", None)
    with open(tmp_path / "sweep.out", "w") as output:
        sweep = subprocess.Popen([sys.executable, "-m", "imdb_sweep", "-m", *TINY, f"train.epochs={epochs}",
                                  "model.units=8,16", "tracking.experiment=pg-restart"],
                                 cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT)
    # Longer than MLflow's client retries of a 5xx (about 7 s, tracking/store.py): the
    # jobs meet the outage and spool.
    restart_postgres_midway(postgres, sweep, lambda: epoch_points(postgres, "pg-restart") >= 3,
                            pause=10, output=tmp_path / "sweep.out")
    said = (tmp_path / "sweep.out").read_text()
    assert sweep.returncode == 0, said[-3000:]
    assert "does not answer" in said, said[-3000:]
    counts = database_counts(postgres, "pg-restart")
    jobs = [run for run in counts["runs"] if run[2] is not None]
    assert len(counts["runs"]) == 3 and len(jobs) == 2, counts["runs"]
    assert all(status == "FINISHED" for _, status, _ in counts["runs"])
    for run_id, _, _ in jobs:
        steps = sorted(step for run, key, step, _ in counts["points"] if run == run_id and key == "val_accuracy")
        assert steps == list(range(1, epochs + 1)), (run_id, steps)
    assert all(n == 1 for *_, n in counts["points"])


def test_the_studys_postgres_restarted_mid_search_keeps_its_trials(postgres, tiny_archive, tmp_path):
    """The Optuna storage (PostgreSQL) restarted while a trial trains (issue 24): the
    storage waits it out (search/patient_storage.py); the running trial goes on, the
    counts stay right. The tracking store is local here, so only the study's database
    goes away."""
    with postgres.connect() as connection:
        connection.autocommit = True
        connection.execute("CREATE DATABASE optuna_restart")
    storage = (f"postgresql://{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}"
               "/optuna_restart")
    env = {**os.environ, **cli_environment(tiny_archive, tmp_path / "cache"), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("IMDB_SWEEP_STATE", None)
    epochs = 60
    with open(tmp_path / "search.out", "w") as output:
        search = subprocess.Popen([sys.executable, "-m", "imdb_sweep", *SEARCH, *TINY, f"train.epochs={epochs}",
                                   f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=2",
                                   "hydra.sweeper.sampler.seed=1", "model.dropout=interval(0.0,0.5)"],
                                  cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT)
    restart_postgres_midway(postgres, search, lambda: intermediate_values(postgres, "optuna_restart") >= 3,
                            pause=3, output=tmp_path / "search.out")
    said = (tmp_path / "search.out").read_text()
    assert search.returncode == 0, said[-3000:]
    assert "The study's database does not answer" in said  # the restart was met, and waited out
    _, children, study = assert_complete_search(tmp_path, 2, storage)
    assert [trial.state for trial in study.get_trials()] == [TrialState.COMPLETE] * 2
    assert len(children) == 2


def intermediate_values(cluster: Postgres, database: str) -> int:
    """Epochs reported to the study so far (0 while its tables or the cluster are not there)."""
    try:
        with Postgres(cluster.host, cluster.port, cluster.user, cluster.password, database).connect() as connection:
            return connection.execute("SELECT count(*) FROM trial_intermediate_values").fetchone()[0]
    except Exception:  # noqa: BLE001 - no table yet, or the cluster restarting
        return 0


def epoch_points(cluster: Postgres, experiment: str) -> int:
    """val_accuracy points of one experiment so far (0 while the database is away)."""
    try:
        with cluster.connect() as connection, connection.cursor() as cursor:
            cursor.execute("""SELECT count(*) FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid
                              JOIN experiments e ON e.experiment_id = r.experiment_id
                              WHERE e.name = %s AND m.key = 'val_accuracy'""", (experiment,))
            return cursor.fetchone()[0]
    except Exception:  # noqa: BLE001 - psycopg's errors while the cluster starts
        return 0


def test_the_compose_server_rejects_a_foreign_host_header(compose_server):
    request = urllib.request.Request(compose_server + "/api/2.0/mlflow/experiments/search?max_results=1",
                                     headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code in (400, 403)
    allowed = urllib.request.Request(compose_server + "/api/2.0/mlflow/experiments/search?max_results=1")
    with urllib.request.urlopen(allowed, timeout=10) as response:
        assert response.status == 200


def test_the_basic_auth_override_rejects_unauthenticated_requests(postgres, tmp_path):
    pytest.importorskip("flask_wtf", reason="mlflow's basic-auth app needs Flask-WTF (mlflow[auth])")
    config = configparser.ConfigParser()
    config.read(compose_file.AUTH_INI)
    config["mlflow"]["database_uri"] = f"sqlite:///{tmp_path / 'basic_auth.db'}"
    with open(tmp_path / "basic_auth.ini", "w") as ini:
        config.write(ini)
    password = secrets.token_hex(8)
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "basic_auth.ini"),
           "MLFLOW_AUTH_ADMIN_PASSWORD": password,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
    process, uri = start_compose_server(compose_file.load(compose_file.AUTH_OVERRIDE_FILE), postgres,
                                        tmp_path, env)
    try:
        endpoint = uri + "/api/2.0/mlflow/experiments/search?max_results=1"
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(endpoint, timeout=10)
        assert error.value.code == 401
        wrong = urllib.request.Request(endpoint, headers={
            "Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(wrong, timeout=10)
        assert error.value.code == 401
        right = urllib.request.Request(endpoint, headers={
            "Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
        with urllib.request.urlopen(right, timeout=10) as response:
            assert response.status == 200
    finally:
        stop_process(process)
