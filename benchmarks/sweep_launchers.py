"""The 8-variant sweep with each local launcher: wall time, memory, per-job overhead.

    python benchmarks/sweep_launchers.py [--launchers basic parallel] [--epochs 10] [-- key=value ...]

Runs `python -m imdb_sweep -m 'variant=glob(*)'` (the eight variants of
conf/variant, full data) once per launcher, each into a fresh local store:
`basic` is Hydra's default launcher (one job at a time, all cores), `parallel`
is our joblib preset (two one-thread jobs side by side). Reports per launcher:
- the sweep's wall time, process start to exit;
- peak memory: the largest resident set of the sweep's processes (getrusage);
- per-job overhead: the share of each job's time spent outside fit and
  evaluate (data, the MLflow run, parameters, datasets, model artifact),
  median over the jobs that did not also import TensorFlow (every job but a
  process's first);
- each variant's test accuracy and best validation accuracy (epoch), for the
  reference table.
Extra arguments after `--` go to every job (a quick check:
`--epochs 1 -- data.train_limit=2000 data.test_limit=1000`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import open_store, require_archive, results_file, write_results

LAUNCHERS = {"basic": [], "parallel": ["hydra/launcher=parallel"]}


def run_sweep(launcher: str, epochs: int, store: Path, extra: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "imdb_sweep", "-m", "variant=glob(*)", f"train.epochs={epochs}",
         "runtime.verbose=0", f"tracking.store_dir={store}", "sweep.rerun=all",
         f"hydra.sweep.dir={store}/outputs", *LAUNCHERS[launcher], *extra],
        cwd=store, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, check=True, capture_output=True, text=True,
    )
    wall = time.time() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_seconds": wall, "jobs": read_jobs(store),
            # ru_maxrss only ever grows: a later sweep's peak shows only if it is higher.
            "peak_rss_mib": peak_kib / 1024 if peak_kib > before else None}


def read_jobs(store: Path) -> list[dict]:
    from imdb_sweep import contract

    client, experiment_id = open_store(store)
    runs = client.search_runs([experiment_id], f"tags.`{contract.ROLE}` = 'job'",
                              order_by=["attributes.start_time ASC"])
    jobs = []
    for run in runs:
        metrics = run.data.metrics
        outside = metrics["job_seconds"] - metrics["train_seconds"] - metrics["evaluate_seconds"]
        jobs.append({
            "variant": run.data.params.get("variant", run.info.run_name),
            "pid": run.data.tags.get(contract.PID, ""),
            "job_seconds": metrics["job_seconds"],
            "outside_fit_seconds": outside,
            "outside_fit_fraction": outside / metrics["job_seconds"],
            "test_accuracy": metrics["test_accuracy"],
            "best_val_accuracy": metrics["best_val_accuracy"],
            "best_epoch": int(metrics["best_epoch"]),
        })
    return jobs


def later_jobs(jobs: list[dict]) -> list[dict]:
    """The jobs after each process's first (which also imports TensorFlow)."""
    seen: set[str] = set()
    later = []
    for job in jobs:  # in start order
        if job["pid"] in seen:
            later.append(job)
        seen.add(job["pid"])
    return later


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launchers", nargs="+", choices=sorted(LAUNCHERS), default=["basic", "parallel"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=results_file("sweep_launchers"))
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --)")
    args = parser.parse_args()
    require_archive()

    results = {}
    for launcher in args.launchers:
        with tempfile.TemporaryDirectory(prefix=f"sweep-{launcher}-") as store:
            results[launcher] = run_sweep(launcher, args.epochs, Path(store), args.extra)
        print(f"{launcher}: {results[launcher]['wall_seconds']:.0f} s", flush=True)

    print("\n| launcher | sweep wall time | peak memory (largest process) | per-job overhead, median (max) |")
    print("|---|---|---|---|")
    for launcher, result in results.items():
        fractions = [job["outside_fit_fraction"] for job in later_jobs(result["jobs"])]
        result["overhead_median"] = statistics.median(fractions)
        result["overhead_max"] = max(fractions)
        minutes, seconds = divmod(round(result["wall_seconds"]), 60)
        peak = f"{result['peak_rss_mib'] / 1024:.1f} GiB" if result["peak_rss_mib"] else "(not above an earlier one)"
        print(f"| {launcher} | {minutes}:{seconds:02d} | {peak} | "
              f"{100 * result['overhead_median']:.1f}% ({100 * result['overhead_max']:.1f}%) |")

    for launcher, result in results.items():
        print(f"\n{launcher}: | variant | test acc | best val acc, epoch | job s | outside fit s |")
        for job in result["jobs"]:
            print(f"| {job['variant']} | {job['test_accuracy']:.4f} | {job['best_val_accuracy']:.4f}, "
                  f"{job['best_epoch']} | {job['job_seconds']:.1f} | {job['outside_fit_seconds']:.2f} |")
    print()
    write_results(args.output, {"epochs": args.epochs, "overrides": args.extra, "launchers": results})


if __name__ == "__main__":
    main()
