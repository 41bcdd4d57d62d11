"""Tracking URIs: the local store's layout and the one place a URI is parsed.

A local store is a folder (`tracking.store_dir`, the launch folder by default)
laid out as MLflow's own commands expect when nothing is set: `mlflow.db`
(SQLite: runs, params, metrics, the model registry), which `mlflow ui`,
`mlflow models serve` and `mlflow.pyfunc.load_model` open from that folder, and
`mlruns/` beside it for artifacts and our own files (checkpoints, search
journals). Nothing here imports MLflow, so the server command and the CLI stay
quick to start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

STORE_DATABASE = "mlflow.db"
STORE_FILES = "mlruns"
# Before the database moved up beside mlruns/, a local store kept it inside.
LEGACY_DATABASE = f"{STORE_FILES}/{STORE_DATABASE}"
_SQLITE_PREFIX = "sqlite:///"


def local_store_uri(store_folder: Path | str) -> str:
    """`sqlite:///<folder>/mlflow.db`, the tracking URI of a local store folder."""
    return f"{_SQLITE_PREFIX}{Path(store_folder).expanduser().resolve() / STORE_DATABASE}"


def local_store_folder(uri: str) -> Path | None:
    """The folder of a SQLite store's database file; None for any other URI."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(_SQLITE_PREFIX)).parent


def store_files_folder(store_folder: Path | str) -> Path:
    """`<store>/mlruns`: artifacts, checkpoints and search journals of a local store."""
    return Path(store_folder).expanduser().resolve() / STORE_FILES


def artifacts_folder(store_folder: Path | str) -> Path:
    """Where a local store's runs keep their artifacts."""
    return store_files_folder(store_folder) / "artifacts"


def move_legacy_database(store_folder: Path) -> None:
    """Move a store's database from `mlruns/mlflow.db` (where it lived before) up to
    `mlflow.db`, where MLflow's own commands open it; its runs keep their artifacts,
    whose locations it records. Says so on stderr when it moved the file."""
    legacy, current = store_folder / LEGACY_DATABASE, store_folder / STORE_DATABASE
    if current.exists() or not legacy.is_file():
        return
    os.replace(legacy, current)
    print(f"Moved the local store's database {legacy} to {current}, where `mlflow ui` and "
          "`mlflow models serve` open it", file=sys.stderr, flush=True)


# The URI forms MLflow's tracking client opens, for the message that lists them.
ACCEPTED_URI_FORMS = ("http(s)://host:port (a tracking server), sqlite:///path/to/mlflow.db, "
                      "postgresql://user:password@host/db (or mysql://, mssql://), file:///path/to/mlruns, "
                      "databricks, or a folder path")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def uri_form_problem(uri: str) -> str | None:
    """Why `uri` is not a tracking URI MLflow can open, or None. Checked before
    MLflow sees it: MLflow answers a typo (`htp:/host`) with a long traceback."""
    try:
        parts = urlsplit(uri)
    except ValueError as error:
        return str(error)
    scheme = parts.scheme.lower()
    if not scheme or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):  # a plain path (or C:\...)
        return None
    if scheme in ("http", "https"):
        return None if parts.netloc else "a server address needs a host, as in http://127.0.0.1:5000"
    if scheme.split("+", 1)[0] in _DATABASE_SCHEMES:
        if scheme == "sqlite" and not uri.startswith(_SQLITE_PREFIX):
            return "a SQLite URI has three slashes before its path, as in sqlite:///mlflow.db"
        return None
    if scheme in ("file", "databricks", "databricks-uc", "uc"):
        return None
    return f"unknown scheme '{parts.scheme}'"


def is_server(uri: str) -> bool:
    """True for an MLflow tracking server (http or https)."""
    return uri.startswith(("http://", "https://"))


# Where `python -m imdb_sweep.server` listens unless told otherwise.
DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 5000


# MLflow 3.17's UI shows every experiment in its GenAI view (sidebar "Evaluation
# runs", a run's breadcrumb "Evaluations") or its Model training view, chosen per
# browser and not per experiment: by this parameter of the page's address, else by
# the sidebar's switch as last saved in the browser, GenAI until then
# (useExperimentKind in its ExperimentKindUtils.ts and WorkflowTypeContext.tsx;
# the experiment's mlflow.experimentKind tag is not read for it). The UI's own links
# to a run drop the parameter: from there on the browser's switch decides.
UI_VIEW_QUERY = "?workflowType=machine_learning"


def _ui_address(server: str, page: str) -> str:
    """A page of the MLflow UI (`/experiments/1/runs`), in its Model training view."""
    return f"{server.rstrip('/')}/#{page}{UI_VIEW_QUERY}"


def experiment_runs_address(server: str, experiment_id: str) -> str:
    """The MLflow UI's list of an experiment's training runs."""
    return _ui_address(server, f"/experiments/{experiment_id}/runs")


def run_address(server: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI's page of one run."""
    return _ui_address(server, f"/experiments/{experiment_id}/runs/{run_id}")


def browse_hint(uri: str, experiment_id: str | None = None, run_id: str | None = None) -> str:
    """Where to look at the runs: the UI addresses, and for a local store the
    command that serves it first."""
    folder = local_store_folder(uri)
    if is_server(uri):
        server, lines = uri, []
    elif folder is not None:
        server = f"http://{DEFAULT_SERVER_HOST}:{DEFAULT_SERVER_PORT}"
        lines = [f"Browse the runs: python -m imdb_sweep.server --store {folder}"]
    else:
        return f"Browse the runs: mlflow ui --backend-store-uri {uri}"
    if experiment_id is None:
        return "\n".join([*lines, f"  then open {server}"] if lines else [f"Browse the runs at {server}"])
    lines.append(f"  runs:  {experiment_runs_address(server, experiment_id)}")
    if run_id is not None:
        lines.append(f"  sweep: {run_address(server, experiment_id, run_id)}")
    if is_server(uri):
        lines.insert(0, "Browse the runs:")
    return "\n".join(lines)
