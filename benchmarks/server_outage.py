"""Issue 24's scenario: a sweep against a local `mlflow server` that is stopped mid-sweep
and started again on the same store.

    python benchmarks/server_outage.py [--revision REV] [--stop-at 18 | --stop-at-epoch N] [--outage 40]
                                       [--output benchmarks/results/server_outage.json] [-- key=value ...]

Starts a real `mlflow server` (python -m imdb_sweep.server, fresh SQLite store) and a
2-job sweep (`-m model.units=32,64 train.epochs=6`, full data unless told otherwise)
of revision REV (default: this checkout) in a fresh folder; stops the server
`--stop-at` seconds after the sweep started (or, with `--stop-at-epoch N`, once the
store holds N epochs: a start that a loaded machine slows does not move the stop
out of training) and starts it again `--outage` seconds later (`--outage 0`: never
stopped, the sweep's wall time without an outage); waits for the sweep. Reports the
sweep's exit status and wall time, the measured outage (stop until /health answers
again: the server's own start is part of it), every run's status and, per job run,
the steps of each epoch metric the server holds.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from baseline import CHECKOUT, export_revision, require_archive, results_file, write_results
from spool_cost import start_server

SWEEP = ["-m", "model.units=32,64", "train.epochs=6"]
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def logged_epochs(store: Path) -> int:
    """val_accuracy points in the store so far, read from its database file."""
    try:
        with sqlite3.connect(store / "mlflow.db", timeout=1) as database:
            return database.execute("SELECT count(*) FROM metrics WHERE key = 'val_accuracy'").fetchone()[0]
    except sqlite3.Error:
        return 0


def read_runs(uri: str) -> list[dict]:
    """Every run of every experiment: its role, status and, for a job, each epoch metric's steps."""
    client = MlflowClient(uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = []
    for run in client.search_runs(experiments, max_results=1000):
        role = run.data.tags.get("imdb_sweep.role", "")
        entry = {"name": run.info.run_name, "role": role, "status": run.info.status}
        if role == "job":
            entry["steps"] = {key: sorted(point.step for point in client.get_metric_history(run.info.run_id, key))
                              for key in EPOCH_METRICS}
        runs.append(entry)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revision", default=None, help="the code the sweep runs (default: this checkout)")
    parser.add_argument("--stop-at", type=float, default=18.0)
    parser.add_argument("--stop-at-epoch", type=int, default=None)
    parser.add_argument("--outage", type=float, default=40.0)
    parser.add_argument("--output", type=Path, default=results_file("server_outage"))
    arguments, extra = parser.parse_known_args()
    extra = [value for value in extra if value != "--"]
    require_archive()
    with tempfile.TemporaryDirectory(prefix="server_outage_") as folder:
        root = Path(folder)
        checkout = export_revision(arguments.revision, root / "code") if arguments.revision else CHECKOUT
        port = 5000 + os.getpid() % 1000
        server = start_server(root / "store", port)
        uri = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(checkout), "MLFLOW_TRACKING_URI": uri}
        env.pop("IMDB_SWEEP_STATE", None)
        (root / "sweep").mkdir()
        started = time.monotonic()
        output = open(root / "sweep.out", "w")  # noqa: SIM115 - the sweep writes to it until it ends
        sweep = subprocess.Popen([sys.executable, "-m", "imdb_sweep", *SWEEP, *extra], cwd=root / "sweep", env=env,
                                 stdout=output, stderr=subprocess.STDOUT, text=True)
        outage = None
        try:
            if arguments.outage > 0:
                if arguments.stop_at_epoch is None:
                    time.sleep(max(arguments.stop_at - (time.monotonic() - started), 0))
                while arguments.stop_at_epoch and logged_epochs(root / "store") < arguments.stop_at_epoch:
                    if sweep.poll() is not None:
                        raise RuntimeError("the sweep ended before the stop")
                    time.sleep(0.2)
                stopped = time.monotonic()  # it stops answering on the signal
                stop_server(server)
                print(f"server stopped {stopped - started:.1f} s into the sweep", flush=True)
                time.sleep(arguments.outage)
                server = start_server(root / "store", port)
                outage = time.monotonic() - stopped
                print(f"server answers again after {outage:.1f} s", flush=True)
            exit_status = sweep.wait(timeout=3600)
            wall = time.monotonic() - started
            runs = read_runs(uri)
        finally:
            if sweep.poll() is None:
                sweep.kill()
            stop_server(server)
        lines = (root / "sweep.out").read_text().splitlines()
        said = [line for line in lines if any(word in line for word in ("answer", "FAILED", "kept", "Sent", "Error"))]
        tail = lines[-40:]
    print(f"exit {exit_status}; wall time {wall:.1f} s; outage {outage if outage is None else round(outage, 1)} s")
    for run in runs:
        steps = {key: value for key, value in run.get("steps", {}).items()}
        print(f"  {run['role'] or '?'} {run['name']}: {run['status']}"
              + (f"; steps {sorted({tuple(value) for value in steps.values()})}" if steps else ""))
    for line in said[:12] if exit_status == 0 else tail:
        print("  | " + line[:240])
    write_results(arguments.output, {"revision": arguments.revision or "checkout", "stop_at": arguments.stop_at,
                                     "outage_requested": arguments.outage, "outage_measured": outage,
                                     "exit_status": exit_status, "wall_seconds": wall, "runs": runs,
                                     "overrides": SWEEP + extra, "sweep_said": said, "sweep_tail": tail})


if __name__ == "__main__":
    main()
