"""Real processes for tests: free ports, waiting for HTTP, a real `mlflow server`, stopping."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from imdb_sweep.server import server_environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} within {timeout} s")


def start_mlflow_server(store: Path, extra: list[str] | None = None,
                        port: int | None = None) -> tuple[subprocess.Popen, str]:
    """A real `mlflow server` on 127.0.0.1 over a SQLite store in `store` (on `port`:
    the one it had before a restart)."""
    store.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", str(store / "artifacts"), "--serve-artifacts",
        "--workers", "1", *(extra or []),
    ]
    # Without MLflow's GenAI job runner, as imdb_sweep.server starts it (server_environment).
    with open(store / "server.log", "ab") as log:  # the server writes to its own copy
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=server_environment())
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(uri + "/health", process)
    except RuntimeError as error:
        process.kill()
        raise RuntimeError((store / "server.log").read_text()[-3000:]) from error
    return process, uri


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class StoppableServer:
    """A real `mlflow server` over a SQLite store that can be stopped and started
    again on the same port, as a restarted shared server is. `port`: one chosen
    beforehand, so that a client can be told the address while nothing answers there
    yet (`started=False`)."""

    def __init__(self, store: Path, port: int | None = None, started: bool = True):
        self.store = store
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.outages: list[float] = []
        self._stopped_at: float | None = None
        if started:
            self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self._stopped_at = time.monotonic()

    def start(self) -> None:
        self.process, _ = start_mlflow_server(self.store, port=self.port)
        if self._stopped_at is not None:
            self.outages.append(time.monotonic() - self._stopped_at)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
