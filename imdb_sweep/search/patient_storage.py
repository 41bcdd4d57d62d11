"""A study's database storage that waits out a database restart (issue 24).

Optuna's RDB storage raises at the first request that finds the database gone (a
restart, a failover): a running trial would fail at its next epoch's report, a
worker at its next ask. This subclass tries each storage call again, every
RETRY_SECONDS for up to OUTAGE_SECONDS, when it failed for want of a connection;
the SQLAlchemy pool's pre-ping (storage.py) then opens fresh connections. Any other
error is raised at once.

A call is tried again when its error says the connection was lost: its first try
reached no database, or the database cut it before its commit (PostgreSQL rolls an
open transaction back when it stops), and then the retried write is applied once.
Not guarded: a commit that reached the database whose answer was lost on the way
back; its retry would apply the write a second time (a trial created twice, say).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import optuna
import sqlalchemy.exc

OUTAGE_SECONDS = 300.0
RETRY_SECONDS = 2.0


def is_connection_lost(error: BaseException | None) -> bool:
    """True when `error` (or what caused it) says the database did not answer."""
    while error is not None:
        if isinstance(error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__  # Optuna wraps SQLAlchemy's errors in StorageInternalError
    return False


def _patient(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + OUTAGE_SECONDS
        said = False
        while True:
            try:
                return method(self, *args, **kwargs)
            except Exception as error:
                if not is_connection_lost(error) or time.monotonic() >= deadline:
                    raise
                if not said:
                    print(f"The study's database does not answer ({type(error).__name__}): trying again for up "
                          f"to {OUTAGE_SECONDS:g} s", file=sys.stderr, flush=True)
                    said = True
                time.sleep(RETRY_SECONDS)

    return call


class PatientRDBStorage(optuna.storages.RDBStorage):
    """optuna.storages.RDBStorage whose every storage call waits out a database restart."""


for _name in dir(optuna.storages.BaseStorage):
    if not _name.startswith("_") and callable(getattr(optuna.storages.RDBStorage, _name, None)):
        setattr(PatientRDBStorage, _name, _patient(getattr(optuna.storages.RDBStorage, _name)))
