"""What the spool (imdb_sweep/tracking/spool.py) costs a job when the tracking server is healthy.

    python benchmarks/spool_cost.py [--rounds 3] [--before REV] [--output benchmarks/results/spool_cost.json]
                                    [-- key=value ...]

Starts a real `mlflow server` (python -m imdb_sweep.server) over a fresh store and
runs, alternating so that machine noise hits both alike, one `python -m imdb_sweep`
job of revision REV (default `main` before the spool was merged: pass the commit
before it once it is) and one of this checkout, each in a fresh process, on small
data (2000 training and 1000 test reviews, 3 epochs, the model logged). Each job's
own clock, read back from its run: job_seconds (the whole job: data, training,
every write to the server, the model) and model_logging_seconds. Reports each
side's median and the ratio after/before.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

from baseline import CHECKOUT, export_revision, require_archive, results_file, write_results

SMALL = ["data.train_limit=2000", "data.test_limit=1000", "train.epochs=3",
         "tracking.log_model=true", "sweep.rerun=all", "sweep.checkpoints=false"]
MEASURED = ("job_seconds", "model_logging_seconds", "train_seconds")


def start_server(store: Path, port: int) -> subprocess.Popen:
    log = open(store.parent / "server.log", "wb")  # noqa: SIM115 - the server writes to it until stopped
    process = subprocess.Popen([sys.executable, "-m", "imdb_sweep.server", "--store", str(store), "--port", str(port)],
                               env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the server did not answer within 120 s (see {store.parent / 'server.log'})")


def run_job(checkout: Path, uri: str, experiment: str, workdir: Path, extra: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "MLFLOW_TRACKING_URI": uri}
    env.pop("IMDB_SWEEP_STATE", None)
    subprocess.run([sys.executable, "-m", "imdb_sweep", *SMALL, f"tracking.experiment={experiment}", *extra],
                   cwd=workdir, env=env, capture_output=True, text=True, check=True)
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    (run,) = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    return {name: run.data.metrics[name] for name in MEASURED if name in run.data.metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default="main", help="the revision without the spool")
    parser.add_argument("--output", type=Path, default=results_file("spool_cost"))
    arguments, extra = parser.parse_known_args()
    extra = [value for value in extra if value != "--"]
    require_archive()
    with tempfile.TemporaryDirectory(prefix="spool_cost_") as folder:
        root = Path(folder)
        sides = {"before": export_revision(arguments.before, root / "before"), "after": CHECKOUT}
        port = 5000 + os.getpid() % 1000
        server = start_server(root / "store", port)
        uri = f"http://127.0.0.1:{port}"
        samples: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        try:
            for side, checkout in sides.items():  # warm-up: data cache, compiled programs
                run_job(checkout, uri, f"warm-{side}", root, extra)
            for round_number in range(arguments.rounds):
                for side, checkout in sides.items():
                    samples[side].append(run_job(checkout, uri, f"spool-cost-{side}", root, extra))
                    print(f"round {round_number + 1} {side}: {samples[side][-1]}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    medians = {side: {name: statistics.median(sample[name] for sample in runs if name in sample)
                      for name in MEASURED} for side, runs in samples.items()}
    print(f"\n| median of {arguments.rounds} | before ({arguments.before}) | after (spool) | after/before |")
    print("|---|---|---|---|")
    for name in MEASURED:
        before, after = medians["before"][name], medians["after"][name]
        print(f"| {name} | {before:.2f} s | {after:.2f} s | {after / before:.3f} |")
    write_results(arguments.output, {"before": arguments.before, "overrides": SMALL + extra,
                                     "samples": samples, "medians": medians})


if __name__ == "__main__":
    main()
