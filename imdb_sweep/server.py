"""`python -m imdb_sweep.server`: an MLflow tracking server over the project's local store.

    python -m imdb_sweep.server                  # ./mlflow.db on http://127.0.0.1:5000
    python -m imdb_sweep.server --store /data/sweeps --port 5001

The server opens the same store the sweeps write to when no tracking URI is set
(`sqlite:///<store>/mlflow.db`, artifacts in `<store>/mlruns/artifacts`), so the
UI shows exactly what they wrote. Sweeps can keep writing to the store directly, or
go through the server with `MLFLOW_TRACKING_URI=http://127.0.0.1:5000`; new
experiments created through the server keep their artifacts in the same folder.

It binds 127.0.0.1 by default: the MLflow server has no authentication unless
started with `--app-name basic-auth`, so anyone who can reach the port can read
and delete runs. Binding another address prints a warning.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from imdb_sweep.tracking.uris import (
    DEFAULT_SERVER_HOST,
    DEFAULT_SERVER_PORT,
    artifacts_folder,
    local_store_uri,
    move_legacy_database,
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# MLflow 3's server starts eight huey consumers (about 200 MB each) for its GenAI jobs
# (scorers, prompt optimisation). A Keras sweep never queues one, and they outlive a
# stopped server by about a minute. A user who wants them exports the variable as true.
JOB_EXECUTION_VARIABLE = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def server_environment(environment: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment for `mlflow server`: MLflow's job consumers off unless asked for."""
    return {JOB_EXECUTION_VARIABLE: "false", **environment}


def server_command(
    store: Path, host: str = DEFAULT_SERVER_HOST, port: int = DEFAULT_SERVER_PORT, workers: int = 1,
    extra: Sequence[str] = (),
) -> list[str]:
    """The `mlflow server` command line for a local store folder."""
    store = store.expanduser().resolve()
    return [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port),
        "--backend-store-uri", local_store_uri(store),
        "--serve-artifacts", "--artifacts-destination", str(artifacts_folder(store)),
        "--workers", str(workers),
        *extra,
    ]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m imdb_sweep.server",
        description="Start an MLflow tracking server (and UI) over the project's local store.",
        epilog="Arguments after `--` go to `mlflow server` unchanged, "
               "e.g. `-- --app-name basic-auth`.",
    )
    parser.add_argument("--store", type=Path, default=Path("."),
                        help="the local store's folder, holding mlflow.db and mlruns/ "
                             "(tracking.store_dir; default: the current folder)")
    parser.add_argument("--host", default=DEFAULT_SERVER_HOST,
                        help=f"address to bind (default: {DEFAULT_SERVER_HOST}, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_SERVER_PORT, help=f"default: {DEFAULT_SERVER_PORT}")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default: 1)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    arguments = parser.parse_args(argv)
    if not 0 < arguments.port < 65536:
        parser.error(f"--port = {arguments.port} is not allowed: expected 1-65535")
    if arguments.workers < 1:
        parser.error(f"--workers = {arguments.workers} is not allowed: expected an integer >= 1")
    arguments.extra = extra
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    store = arguments.store.expanduser().resolve()
    if store.exists() and not store.is_dir():
        sys.exit(f"Error: --store = '{arguments.store}' is not a folder")
    artifacts_folder(store).mkdir(parents=True, exist_ok=True)
    move_legacy_database(store)
    command = server_command(store, arguments.host, arguments.port, arguments.workers, arguments.extra)
    if not _is_loopback(arguments.host):
        print(f"Warning: binding {arguments.host} makes the server reachable from other machines, "
              "without authentication unless you add `-- --app-name basic-auth`; "
              "set --allowed-hosts too (see the README's security notes).", file=sys.stderr)
    shown_host = f"[{arguments.host}]" if ":" in arguments.host else arguments.host
    print(f"MLflow server for the store {store} at http://{shown_host}:{arguments.port} "
          "(Ctrl-C stops it)", flush=True)
    # Replace this process: Ctrl-C and signals from a supervisor reach MLflow directly.
    os.execve(command[0], command, server_environment())


if __name__ == "__main__":
    main()
