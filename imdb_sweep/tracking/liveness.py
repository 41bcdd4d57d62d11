"""Proving runs dead: heartbeats while alive, reaping after `kill -9`.

A run that was killed outright (SIGKILL, a lost machine) never gets to mark
itself; MLflow shows it RUNNING forever. Every run we create carries the host,
pid and process start time of its process and a heartbeat tag refreshed by a
background thread. Any later invocation marks KILLED the RUNNING runs it can
prove dead: on this host, when that process is gone; elsewhere, when the
heartbeat is older than `sweep.dead_after_seconds`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from imdb_sweep import contract


def process_start_ticks(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux), which tells a
    live process from a later one that reuses its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain.
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    values = {contract.HOST: socket.gethostname(), contract.PID: str(os.getpid()),
              contract.HEARTBEAT: f"{time.time():.0f}"}
    start = process_start_ticks(os.getpid())
    if start is not None:
        values[contract.PROCESS_START] = start
    return values


def process_is_alive(pid: int, start_ticks: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # Exists, owned by another user.
    if start_ticks is None:
        return True
    return process_start_ticks(pid) == start_ticks


def death_reason(run: Run, dead_after_seconds: float, now: float | None = None) -> str | None:
    """Why `run` is provably dead, or None when it may still be alive."""
    return process_death_reason(run.data.tags, dead_after_seconds, now)


def process_death_reason(run_tags: Mapping[str, str], dead_after_seconds: float,
                         now: float | None = None) -> str | None:
    """Why the process that `process_tags()` described is provably gone (None when
    it may still be alive): runs carry these as tags, search trials as attributes."""
    now = time.time() if now is None else now
    if run_tags.get(contract.HOST) == socket.gethostname() and run_tags.get(contract.PID, "").isdigit():
        pid = int(run_tags[contract.PID])
        if not process_is_alive(pid, run_tags.get(contract.PROCESS_START)):
            return f"its process {pid} on {run_tags[contract.HOST]} is gone"
        return None
    heartbeat = run_tags.get(contract.HEARTBEAT)
    if heartbeat is not None:
        silence = now - float(heartbeat)
        if silence > dead_after_seconds:
            return f"no heartbeat for {silence:.0f} s (limit sweep.dead_after_seconds={dead_after_seconds:g})"
    return None


def reap_dead_runs(client: MlflowClient, experiment_id: str, dead_after_seconds: float) -> list[str]:
    """Mark KILLED every RUNNING run of ours that is provably dead; return their ids."""
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000
    )
    reaped = []
    for run in running:
        if contract.ROLE not in run.data.tags:
            continue  # Not one of ours: we cannot tell how it signals life.
        reason = death_reason(run, dead_after_seconds)
        if reason is None:
            continue
        client.set_tag(run.info.run_id, contract.ERROR, f"marked KILLED: {reason}")
        client.set_terminated(run.info.run_id, status="KILLED")
        reaped.append(run.info.run_id)
    return reaped


class PeriodicBeat:
    """Calls `beat()` every `interval_seconds` from a daemon thread; a failed beat
    only delays the proof of death, so it is ignored."""

    def __init__(self, beat: Callable[[], object], interval_seconds: float, name: str):  # its value unused
        self._beat_once = beat
        self._interval = interval_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def __enter__(self) -> PeriodicBeat:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._beat_once()
            except Exception:  # noqa: BLE001 - a missed beat only delays reaping
                pass


class Heartbeat(PeriodicBeat):
    """Refreshes a run's heartbeat tag every `interval_seconds`."""

    def __init__(self, client: MlflowClient, run_id: str, interval_seconds: float):
        super().__init__(lambda: client.set_tag(run_id, contract.HEARTBEAT, f"{time.time():.0f}"),
                         interval_seconds, name=f"heartbeat-{run_id[:8]}")
