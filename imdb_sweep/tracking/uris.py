"""Tracking URIs: the local store's layout and the one place a URI is parsed.

A local store is one folder: `mlflow.db` (SQLite: runs, params, metrics) and
`artifacts/` beside it. Nothing here imports MLflow, so the server command and
the CLI stay quick to start.
"""

from __future__ import annotations

from pathlib import Path

STORE_DATABASE = "mlflow.db"
STORE_ARTIFACTS = "artifacts"
_SQLITE_PREFIX = "sqlite:///"


def local_store_uri(store_folder: Path | str) -> str:
    """`sqlite:///<folder>/mlflow.db`, the tracking URI of a local store folder."""
    return f"{_SQLITE_PREFIX}{Path(store_folder).expanduser().resolve() / STORE_DATABASE}"


def local_store_folder(uri: str) -> Path | None:
    """The folder of a SQLite store's database file; None for any other URI."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(_SQLITE_PREFIX)).parent


def is_server(uri: str) -> bool:
    """True for an MLflow tracking server (http or https)."""
    return uri.startswith(("http://", "https://"))


# Where `python -m imdb_sweep.server` listens unless told otherwise.
DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 5000


def experiment_runs_address(server: str, experiment_id: str) -> str:
    """The MLflow UI's list of an experiment's training runs. MLflow 3 opens an
    experiment in its GenAI view; this address goes straight to the runs."""
    return f"{server.rstrip('/')}/#/experiments/{experiment_id}/runs"


def run_address(server: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI's page of one run."""
    return f"{experiment_runs_address(server, experiment_id)}/{run_id}"


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
