"""Where runs go: the tracking URI, a quick check that the store can be used,
and the experiment the runs belong to."""

from __future__ import annotations

import fcntl
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from imdb_sweep.tracking.fresh_database import prepare_sqlite_database
from imdb_sweep.tracking.mlflow_internals import SCHEMA_SETUP_LOGGER
from imdb_sweep.tracking.uris import (
    ACCEPTED_URI_FORMS,
    STORE_DATABASE,
    artifacts_folder,
    is_server,
    local_store_folder,
    local_store_uri,
    move_legacy_database,
    store_files_folder,
    uri_form_problem,
)

# A new SQLite store announces its schema set-up at INFO level on every job.
for _logger in (SCHEMA_SETUP_LOGGER, "alembic.runtime.migration"):
    logging.getLogger(_logger).setLevel(logging.WARNING)


# MLflow's own record of what an experiment holds: training runs, not GenAI traces.
# MLflow 3.17's UI does not read it to choose its view (uris.UI_VIEW_QUERY does
# that); the UIs of other MLflow 3 versions do.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or used."""


@dataclass(frozen=True)
class TrackingTarget:
    uri: str
    experiment_id: str
    experiment_name: str


def resolve_tracking_uri(tracking_cfg: Any) -> tuple[str, str]:
    """The tracking URI and the setting it came from (for error messages); a URI
    MLflow could not open is refused here, naming the setting and the forms it takes."""
    from_environment = os.environ.get("MLFLOW_TRACKING_URI")
    if from_environment:
        uri, setting = from_environment, "MLFLOW_TRACKING_URI"
    elif tracking_cfg.uri:
        uri, setting = str(tracking_cfg.uri), "tracking.uri"
    else:
        return local_store_uri(tracking_cfg.store_dir), "tracking.store_dir"
    problem = uri_form_problem(uri)
    if problem is not None:
        raise TrackingError(f"{setting} = '{uri}' is not a tracking URI ({problem}): expected {ACCEPTED_URI_FORMS}")
    return uri, setting


def default_artifact_location(uri: str) -> str | None:
    """A local store's artifacts go to mlruns/artifacts beside its database, so the
    store is one folder."""
    folder = local_store_folder(uri)
    return artifacts_folder(folder).as_uri() if folder is not None else None


# MLflow's HTTP client retries a failed request 7 times with exponential backoff
# and waits up to 120 s for each answer: a job whose server died would hang for
# minutes before failing. These bounds make it fail within seconds (a refused
# connection: about 6 s of backoff), naming the server. setdefault: a user who
# sets one of these variables keeps their value.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def bound_http_retries() -> None:
    """Bound MLflow's HTTP retries (see HTTP_RETRY_DEFAULTS) unless the user set them.

    Set in os.environ, so jobs that a launcher starts in other processes inherit them."""
    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def probe_server(uri: str, timeout: float = 3) -> Exception | None:
    """One /health request: None when the server answers, else why not. An
    auth-protected server answers 401 or 403 on /health: it is up."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return None if response.status == 200 else TrackingError(f"HTTP {response.status}")
    except urllib.error.HTTPError as error:
        return None if error.code in (401, 403) else error
    except (urllib.error.URLError, OSError) as error:
        return error


def server_is_up(uri: str, timeout: float = 3) -> bool:
    return probe_server(uri, timeout) is None


def check_tracking_store(uri: str, setting: str, attempts: int) -> None:
    """Fail fast, naming the URI, when the store cannot be reached or written."""
    if is_server(uri):
        bound_http_retries()
        _wait_for_server(uri, setting, attempts)
        return
    folder = local_store_folder(uri)
    if folder is None:
        return
    try:
        store_files_folder(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrackingError(f"{setting} = '{uri}': cannot create the store folder: {error}") from error
    if not os.access(folder, os.W_OK):
        raise TrackingError(f"{setting} = '{uri}': the store folder {folder} is not writable")


def _wait_for_server(uri: str, setting: str, attempts: int) -> None:
    last_error: Exception | None = None
    for attempt in range(attempts):
        last_error = probe_server(uri, timeout=5)
        if last_error is None:
            return
        if attempt + 1 < attempts:
            time.sleep(min(2 ** attempt, 8))
    raise TrackingError(
        f"{setting} = '{uri}': the MLflow tracking server is not reachable after "
        f"{attempts} attempt(s) ({last_error}). Start it (python -m imdb_sweep.server) or "
        "point MLFLOW_TRACKING_URI at a running server."
    )


def connect(tracking_cfg: Any, attempts: int = 3, sweep_uri: str | None = None) -> TrackingTarget:
    """Check the store, point MLflow at it and make sure the experiment exists.

    A job of a sweep passes `sweep_uri`, the store its parent run lives in: a
    launcher may run it on another machine or in another folder, where the
    default store would resolve elsewhere.
    """
    if sweep_uri:
        uri, setting = sweep_uri, "the sweep's tracking URI"
    else:
        uri, setting = resolve_tracking_uri(tracking_cfg)
    check_tracking_store(uri, setting, attempts)
    mlflow.set_tracking_uri(uri)
    with _local_store_ready(uri):
        experiment_id = _experiment_id(MlflowClient(uri), tracking_cfg.experiment, uri, setting)
    return TrackingTarget(uri=uri, experiment_id=experiment_id, experiment_name=tracking_cfg.experiment)


@contextmanager
def _local_store_ready(uri: str) -> Iterator[None]:
    """A local store's database in place (an old one moved up, a new one copied from
    MLflow's empty schema), one process at a time: two workers started together on
    a fresh SQLite store would both make its schema, and one fails. Servers
    serialize this themselves."""
    folder = local_store_folder(uri)
    if folder is None:
        yield
        return
    with open(store_files_folder(folder) / ".store.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # An old store's database moves first, so that it is not taken for a new store.
        move_legacy_database(folder)
        prepare_sqlite_database(folder / STORE_DATABASE)  # a new store: its schema copied
        yield  # the lock goes with the file's closing


def _experiment_id(client: MlflowClient, name: str, uri: str, setting: str) -> str:
    """The experiment's id, created (tagged so MLflow's UI opens its runs) if missing."""
    try:
        experiment = client.get_experiment_by_name(name)
    except MlflowException as error:
        # The server is up (it answered /health) but cannot serve the store,
        # e.g. its database is down or refuses it.
        raise TrackingError(
            f"{setting} = '{uri}': the tracking store answered with an error: {error}"
        ) from error
    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                name, artifact_location=default_artifact_location(uri),
                tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
            )
        except MlflowException:
            # Another job created it a moment ago.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            experiment_id = experiment.experiment_id
    else:
        if experiment.lifecycle_stage == "deleted":
            raise TrackingError(
                f"tracking.experiment = '{name}' is a deleted experiment in {uri}: restore it "
                "(mlflow experiments restore) or choose another name"
            )
        experiment_id = experiment.experiment_id
        if EXPERIMENT_KIND_TAG not in experiment.tags:  # created by an older version or by hand
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment_id
