"""A new local store: MLflow's migrations against a copy of its empty database.

    python benchmarks/fresh_store.py [--rounds 4]

Times, in a fresh process each and alternating, what a job's first step costs on
a store folder that does not exist yet: `imdb_sweep.tracking.store.connect`
(the store checked, the database made, the experiment created), (a) with the
empty database already in the user cache, as for every new store after the
first (tracking/fresh_database.py), and (b) with MLflow migrating the new
database itself (a copy made impossible: the user cache is a file). Reports
the medians, beside the same step on an existing store.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from baseline import BENCHMARKS

CONNECT = """
import sys, time
from omegaconf import OmegaConf
from imdb_sweep.tracking.store import connect
cfg = OmegaConf.create({"uri": None, "store_dir": sys.argv[1], "experiment": "imdb-sweep"})
started = time.perf_counter()
connect(cfg)
print(time.perf_counter() - started)
"""


def connect_seconds(store: Path, cache: Path) -> float:
    env = {**os.environ, "IMDB_SWEEP_CACHE_DIR": str(cache), "PYTHONPATH": str(BENCHMARKS.parent)}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([sys.executable, "-c", CONNECT, str(store)], env=env, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="imdb_sweep_fresh_store_"))
    cache, no_cache = scratch / "cache", scratch / "not_a_folder"
    no_cache.write_text("")  # nothing can be cached under a file
    connect_seconds(scratch / "warm_up", cache)  # builds the empty database once
    seconds: dict[str, list[float]] = {"new store, copied": [], "new store, migrated by MLflow": [],
                                       "existing store": []}
    for round_number in range(args.rounds):
        seconds["new store, copied"].append(connect_seconds(scratch / f"copied_{round_number}", cache))
        seconds["new store, migrated by MLflow"].append(
            connect_seconds(scratch / f"migrated_{round_number}", no_cache))
        seconds["existing store"].append(connect_seconds(scratch / "warm_up", cache))
    print("| connect() on | median | range |")
    print("|---|---|---|")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.2f} s | {min(values):.2f}-{max(values):.2f} s |")
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
