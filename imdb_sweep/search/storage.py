"""Where a search's Optuna study lives, shared by every worker that joins it.

`hydra.sweeper.storage`:
- null: a journal file in the local tracking store's folder
  (`mlruns/optuna.journal`), for workers on this machine. Optuna's journal
  storage appends each change to one file under a file lock, so concurrent
  workers never meet SQLite's "database is locked" (benchmarks/README.md,
  search storage);
- a path (`/shared/search.journal`): a journal file elsewhere, e.g. on a
  shared disk;
- a database URL (`postgresql://user:pw@host/optuna`, `sqlite:///path.db`):
  Optuna's RDB storage, for workers on several machines. It must be a
  database of its own: Optuna and MLflow both keep an `alembic_version` table.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from imdb_sweep.config.validation import ConfigError
from imdb_sweep.tracking.uris import store_files_folder

JOURNAL_FILE = "optuna.journal"
DATABASE_PREFIXES = ("sqlite:", "postgresql", "postgres:", "mysql")
# SQLite's default lock wait (5 s) is shorter than an Optuna write under load.
SQLITE_LOCK_TIMEOUT_SECONDS = 120
# Tables only MLflow's tracking store has: a database holding them is MLflow's.
MLFLOW_TABLES = ("experiments", "runs", "metrics")
STORAGE_ATTEMPTS = 3


def default_storage(store_dir: str | Path) -> str:
    """The journal file in mlruns/ of the local store (tracking.store_dir)."""
    return str(store_files_folder(store_dir) / JOURNAL_FILE)


def is_database_url(storage: str) -> bool:
    return storage.startswith(DATABASE_PREFIXES)


def describe(storage: str) -> str:
    """The storage without its password, for messages and tags."""
    if "@" in storage and "://" in storage:
        scheme, rest = storage.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return storage


def open_storage(storage: str) -> Any:
    """The Optuna storage behind `storage`, reached once; ConfigError naming
    hydra.sweeper.storage when it cannot be used."""
    import optuna

    if not is_database_url(storage):
        path = Path(storage).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        except OSError as error:
            raise _storage_error(storage, f"cannot write the journal file ({error.strerror})") from error
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    from imdb_sweep.search.patient_storage import PatientRDBStorage

    engine_kwargs = _engine_kwargs(storage)
    _refuse_mlflow_database(storage, engine_kwargs)
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            return PatientRDBStorage(storage, engine_kwargs=engine_kwargs)  # waits out a restart
        except Exception as error:  # SQLAlchemy's and the driver's errors alike (re-raised)
            # Workers started together on a fresh database race to create Optuna's
            # tables; the loser finds them made when it tries again.
            if attempt + 1 < STORAGE_ATTEMPTS:
                time.sleep(1 + random.random())
                continue
            reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            raise _storage_error(storage, f"cannot open it: {reason}") from error
    raise AssertionError("unreachable")


def _engine_kwargs(storage: str) -> dict[str, Any]:
    if storage.startswith("sqlite:"):
        return {"connect_args": {"timeout": SQLITE_LOCK_TIMEOUT_SECONDS}}
    # An unreachable host fails in seconds instead of the system's TCP timeout.
    connect_args = {"connect_timeout": 10} if storage.startswith("postgres") else {}
    return {"pool_pre_ping": True, "connect_args": connect_args}


def _refuse_mlflow_database(storage: str, engine_kwargs: dict[str, Any]) -> None:
    """Optuna and MLflow both version their schema in `alembic_version`: sharing
    one database breaks whichever migrates second."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(storage, **engine_kwargs)
        try:
            tables = set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception as error:  # noqa: BLE001 - unreachable: said by open_storage's own attempt
        del error
        return
    if all(table in tables for table in MLFLOW_TABLES):
        raise _storage_error(storage, "this database holds an MLflow tracking store; give the study a "
                                      "database of its own (both keep an alembic_version table)")


def _storage_error(storage: str, reason: str) -> ConfigError:
    return ConfigError([f"hydra.sweeper.storage = {describe(storage)!r} cannot be used: {reason}. "
                        "Expected null (a journal file beside the local tracking store), a file path, "
                        "or a database URL such as postgresql://user:password@host/optuna"])
