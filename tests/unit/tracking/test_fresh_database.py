"""A new local store starts as a copy of MLflow's empty database (tracking/fresh_database.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep.tracking.fresh_database import (
    empty_database_template,
    expected_schema_revision,
    is_empty_mlflow_database,
    prepare_sqlite_database,
)
from imdb_sweep.tracking.store import connect
from imdb_sweep.tracking.uris import local_store_uri


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user cache for the tests that only use the empty database (building it
    runs MLflow's migrations, seconds)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture()
def cache(isolated_env: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IMDB_SWEEP_CACHE_DIR", str(shared_cache))
    return shared_cache


def schema(database: Path) -> tuple[dict, list, list]:
    """({table: its columns, indexes and foreign keys}, the alembic revision, the
    workspaces). From SQLite's table descriptions, not the CREATE statements'
    text: alembic's table rebuilds on SQLite list constraints in an order that
    varies from one build to the next."""
    with closing(sqlite3.connect(database)) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        described = {}
        for table in tables:
            indexes = {
                (name, unique, tuple(column for *_, column in connection.execute(f"PRAGMA index_info('{name}')")))
                for _, name, unique, *_ in connection.execute(f"PRAGMA index_list('{table}')")}
            described[table] = (set(connection.execute(f"PRAGMA table_info('{table}')")), indexes,
                                {row[2:] for row in connection.execute(f"PRAGMA foreign_key_list('{table}')")})
        return (described, connection.execute("SELECT * FROM alembic_version").fetchall(),
                connection.execute("SELECT * FROM workspaces").fetchall())


def test_a_new_database_is_mlflows_own_schema_and_mlflow_works_in_it(cache: Path, tmp_path: Path):
    copied = tmp_path / "copied" / "mlflow.db"
    prepare_sqlite_database(copied)
    assert copied.is_file() and is_empty_mlflow_database(copied)

    migrated = tmp_path / "migrated" / "mlflow.db"  # what MLflow makes of a new database itself
    MlflowClient(f"sqlite:///{migrated}").search_experiments()
    copied_schema, migrated_schema = schema(copied), schema(migrated)
    assert len(copied_schema[0]) > 30  # MLflow 3's tracking, registry and GenAI tables
    assert copied_schema == migrated_schema

    client = MlflowClient(f"sqlite:///{copied}")
    # The Default experiment, added by MLflow on opening, where it would be in a
    # database it migrated itself (not where the empty database was built).
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert default.artifact_location == MlflowClient(f"sqlite:///{migrated}").get_experiment("0").artifact_location
    experiment_id = client.create_experiment("imdb-sweep", artifact_location=(tmp_path / "artifacts").as_uri())
    assert experiment_id == "1"  # as in a database MLflow migrated itself
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "val_accuracy", 0.86, step=1)
    client.set_terminated(run.info.run_id)
    found = client.search_runs([experiment_id])
    assert [r.data.metrics["val_accuracy"] for r in found] == [0.86]
    assert client.search_registered_models() == []  # the registry's tables too


def test_an_existing_database_is_left_as_it_is_and_an_empty_file_gets_the_copy(cache: Path, tmp_path: Path):
    database = tmp_path / "store" / "mlflow.db"
    client = MlflowClient(f"sqlite:///{database}")
    client.create_experiment("kept")
    before = database.read_bytes()
    prepare_sqlite_database(database)
    assert database.read_bytes() == before

    empty_file = tmp_path / "stray" / "mlflow.db"
    empty_file.parent.mkdir()
    empty_file.touch()  # what `sqlite3 mlflow.db` or a half-started tool leaves
    prepare_sqlite_database(empty_file)
    assert is_empty_mlflow_database(empty_file)


def test_a_job_connecting_to_a_new_local_store_copies_the_empty_database(compose_config, cache: Path,
                                                                          tmp_path: Path):
    cfg = compose_config(f"tracking.store_dir={tmp_path / 'mlruns'}")
    template = cache / f"mlflow-{mlflow.__version__}-empty.db"
    template_bytes = empty_database_template().read_bytes()
    target = connect(cfg.tracking)
    assert target.uri == local_store_uri(tmp_path / "mlruns")
    assert template.read_bytes() == template_bytes  # copied from, not rebuilt
    assert MlflowClient(target.uri).get_experiment(target.experiment_id).name == cfg.tracking.experiment


def test_the_empty_database_is_rebuilt_when_it_fails_the_check_and_kept_per_mlflow_version(isolated_env: Path):
    cache = isolated_env / "cache"
    template = empty_database_template(cache)
    assert template.name == f"mlflow-{mlflow.__version__}-empty.db" and is_empty_mlflow_database(template)

    with closing(sqlite3.connect(template)) as connection:  # a schema another MLflow left
        connection.execute("UPDATE alembic_version SET version_num = 'an-older-revision'")
        connection.commit()
    assert not is_empty_mlflow_database(template)
    assert is_empty_mlflow_database(empty_database_template(cache))
    assert schema(template)[1] == [(expected_schema_revision(),)]

    template.write_bytes(b"not a database")  # damaged
    assert is_empty_mlflow_database(empty_database_template(cache))

    other_version = empty_database_template(cache, mlflow_version="0.0.1")
    assert other_version != template and other_version.is_file() and template.is_file()
