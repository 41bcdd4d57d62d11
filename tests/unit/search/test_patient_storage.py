"""Which errors of a study's database a search waits out (imdb_sweep/search/patient_storage.py);
the restart itself: tests/e2e/test_postgres.py."""
from __future__ import annotations

import optuna
import pytest
import sqlalchemy

from imdb_sweep.search.patient_storage import PatientRDBStorage, is_connection_lost
from imdb_sweep.search.storage import open_storage
from tests.helpers.processes import free_port


def _refused() -> sqlalchemy.exc.OperationalError:
    """The error a real connection to a port where no database listens raises."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg (3) is not installed")
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://optuna:pw@127.0.0.1:{free_port()}/optuna",
                                      connect_args={"connect_timeout": 2})
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as raised:
            engine.connect()
    finally:
        engine.dispose()
    return raised.value


def test_a_refused_connection_is_waited_out_even_wrapped_by_optuna():
    refused = _refused()
    assert is_connection_lost(refused)
    try:  # Optuna wraps SQLAlchemy's errors of a session in StorageInternalError
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from refused
    except optuna.exceptions.StorageInternalError as wrapped:
        assert is_connection_lost(wrapped)


def test_a_bad_write_is_raised_at_once():
    integrity = sqlalchemy.exc.IntegrityError("INSERT ...", {}, Exception("duplicate key value"))
    assert not is_connection_lost(integrity)
    assert not is_connection_lost(ValueError("a bug of ours"))
    assert not is_connection_lost(optuna.exceptions.StorageInternalError("invalid data"))


def test_a_database_url_opens_the_patient_storage(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert isinstance(storage, PatientRDBStorage)
    study = optuna.create_study(storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.trials) == 2  # every storage call goes through the waiting wrapper, unchanged
