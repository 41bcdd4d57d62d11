"""Figures for the parallel launcher: a 2x2 sweep (2 epochs, a small subset of the real
archive) against the docker-compose server run natively on a throwaway PostgreSQL, with
the basic launcher and with `hydra/launcher=parallel` (joblib, n_jobs=2); runs and metric
points counted in the database. Also: time from a dead server URI to the error.

    python benchmarks/parallel_sweep.py [--train-limit 2000 --test-limit 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import compose_file  # noqa: E402
from tests.conftest import REAL_ARCHIVE_DEFAULT, free_port, run_cli, stop_process  # noqa: E402

GRID = ["model.units=32,64", "model.activation=relu,tanh", "train.epochs=2", "train.verbose=0",
        "tracking.log_model=false"]


def count(cluster: compose_file.Postgres, experiment: str) -> tuple[int, int, int]:
    with cluster.connect() as connection, connection.cursor() as cursor:
        cursor.execute("""SELECT count(*) FILTER (WHERE t.value IS NULL), count(t.value)
                          FROM runs r JOIN experiments e USING (experiment_id)
                          LEFT JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'mlflow.parentRunId'
                          WHERE e.name = %s""", (experiment,))
        parents, jobs = cursor.fetchone()
        cursor.execute("""SELECT count(*) FROM metrics m JOIN runs r USING (run_uuid)
                          JOIN experiments e USING (experiment_id) WHERE e.name = %s""", (experiment,))
        (points,) = cursor.fetchone()
    return parents, jobs, points


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=1000)
    arguments = parser.parse_args()
    archive = os.environ.get("IMDB_SWEEP_ACLIMDB", str(REAL_ARCHIVE_DEFAULT))
    binaries = compose_file.postgres_bin()
    if binaries is None:
        sys.exit("PostgreSQL is not installed")
    work = Path(tempfile.mkdtemp(prefix="imdb-sweep-bench-"))
    env = {"IMDB_SWEEP_ACLIMDB": archive,
           "IMDB_SWEEP_CACHE_DIR": str(Path.home() / ".cache" / "imdb_sweep")}
    subset = [f"data.train_limit={arguments.train_limit}", f"data.test_limit={arguments.test_limit}"]
    with compose_file.throwaway_postgres(binaries) as cluster:
        process, uri = compose_file.start_compose_server(compose_file.load(), cluster, work)
        try:
            env["MLFLOW_TRACKING_URI"] = uri
            # Warm the encoded-data cache so that neither timed sweep pays for tokenizing.
            run_cli(["train.epochs=1", "train.verbose=0", "tracking.log_model=false",
                     "tracking.experiment=warm-up", *subset], cwd=work, env=env)
            for name, launcher in (("basic", []), ("parallel", ["hydra/launcher=parallel"])):
                started = time.monotonic()
                result = run_cli(["-m", *launcher, *GRID, *subset, f"tracking.experiment=bench-{name}"],
                                 cwd=work, env=env)
                wall = time.monotonic() - started
                if result.returncode != 0:
                    sys.exit(result.stderr[-3000:])
                parents, jobs, points = count(cluster, f"bench-{name}")
                print(f"{name:9s} launcher: wall {wall:6.1f} s, parent runs {parents}, job runs {jobs}, "
                      f"metric points {points}", flush=True)
        finally:
            stop_process(process)

    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_cli(["-m", "model.units=8,16"], cwd=work, env={**env, "MLFLOW_TRACKING_URI": dead})
    elapsed = time.monotonic() - started
    message = next(line for line in result.stderr.splitlines() if "not reachable" in line)
    print(f"dead server URI -> error in {elapsed:.1f} s (whole CLI): {message}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
