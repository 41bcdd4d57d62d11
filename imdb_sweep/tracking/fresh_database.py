"""A new local store's SQLite database, copied from an empty one instead of migrated.

MLflow gives a new SQLite database its schema by running each of its alembic
migrations in turn: seconds (benchmarks/README.md), on a user's first job and
on every store a test creates. The outcome is the same empty schema for every new
database of one MLflow version, so the first new store of a version builds it
once in imdb_sweep's user cache (`$IMDB_SWEEP_CACHE_DIR`, else
~/.cache/imdb_sweep: `mlflow-<version>-empty.db`), and every later new store
starts as a copy of it, in milliseconds.

The empty database is MLflow's own: MLflow creates it (its SqlAlchemyStore, as
for any new store), less the Default experiment (id 0) that MLflow adds with the
store's artifact location; MLflow adds that again, with the right location,
when it opens the copy. Before each copy the file is checked (SQLite's
integrity check, the schema revision this MLflow expects, no experiment) and
rebuilt when it fails; a new MLflow version builds its own. MLflow then checks
the copy's schema when it opens it, as it does every store's. Anything failing
here only costs the time it saves: MLflow then migrates the new database itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import mlflow

from imdb_sweep import user_cache_dir
from imdb_sweep.tracking.mlflow_internals import create_tracking_database, latest_schema_revision

_logger = logging.getLogger(__name__)


def prepare_sqlite_database(database_path: Path) -> None:
    """Call before MLflow first opens the SQLite database `database_path`: when
    there is none yet (no file, or an empty one), put a copy of MLflow's empty
    database there. An existing database is left as it is."""
    database_path = Path(database_path)
    if database_path.name == ":memory:" or (database_path.exists() and database_path.stat().st_size > 0):
        return
    try:
        template = empty_database_template()
        database_path.parent.mkdir(parents=True, exist_ok=True)
        _copy_then_rename(template, database_path)
    except Exception as error:  # noqa: BLE001 - MLflow migrates the database itself, as without this
        _logger.debug("no empty MLflow database to copy (%s); MLflow creates the schema", error)


def empty_database_template(cache_dir: Path | None = None, mlflow_version: str = mlflow.__version__) -> Path:
    """The checked empty database of `mlflow_version` in the user cache, built
    (by this MLflow) when it is missing or fails the check."""
    template = (cache_dir or user_cache_dir()) / f"mlflow-{mlflow_version}-empty.db"
    if not is_empty_mlflow_database(template):
        _build_empty_database(template)
    return template


def is_empty_mlflow_database(database_path: Path) -> bool:
    """True for an intact SQLite database at the schema revision this MLflow
    expects, holding no experiment."""
    if not database_path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{database_path}?mode=ro", uri=True)) as connection:
            intact = connection.execute("PRAGMA quick_check").fetchone() == ("ok",)
            revisions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            experiments = connection.execute("SELECT count(*) FROM experiments").fetchone()[0]
    except sqlite3.Error:
        return False
    return intact and revisions == [(expected_schema_revision(),)] and experiments == 0


def expected_schema_revision() -> str:
    """The schema revision this MLflow's migrations end at: what MLflow requires of
    a database it opens (MLflow has no public name for it)."""
    return latest_schema_revision()


def _build_empty_database(template: Path) -> None:
    """MLflow creates a new database in a scratch folder beside `template`, which
    then takes its place (renamed: another process reads either the old file or
    the whole new one)."""
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent, prefix=".mlflow-empty-") as scratch:
        database = Path(scratch) / "mlflow.db"
        create_tracking_database(database, Path(scratch) / "artifacts")
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("DELETE FROM experiments")  # the Default experiment, with this scratch location
            connection.commit()
        if not is_empty_mlflow_database(database):
            raise RuntimeError(f"MLflow {mlflow.__version__} built a database that fails the check")
        os.replace(database, template)


def _copy_then_rename(source: Path, destination: Path) -> None:
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
