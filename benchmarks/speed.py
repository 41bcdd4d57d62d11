"""Stock Keras script vs one `python -m imdb_sweep` job, same data and hyperparameters.

    python benchmarks/speed.py --rounds 4 [--epochs 10] [--vary-seed] [--before REV] [--cold]
                               [--output benchmarks/results/speed.json] [-- key=value ...]

Runs, alternating so that machine noise hits both alike: (a) the reference
notebook's script (benchmarks/stock_reference.py) and (b) one imdb_sweep job of
the baseline configuration, each in a fresh process. Reports per-epoch steady
time (epochs 2..n: epoch 1 includes tracing/compiling), whole-job wall time
from process start to exit, test accuracy, and the ratios, as a table and JSON.
Extra arguments after `--` go to the imdb_sweep job (e.g. `-- runtime.fuse_steps=false`).
Both sides read the same data config, composed from conf/ (benchmarks/baseline.py).

The job runs this checkout's imdb_sweep (PYTHONPATH), whatever is installed.
`--before REV` also exports revision REV of this repository (`git archive`) and
runs its job too, in every round after this checkout's: stock, before, after,
so that one invocation gives both ratios side by side. Each side's job gets a
store and a user cache of its own (IMDB_SWEEP_CACHE_DIR; the encoded reviews
keep coming from the default cache), warmed by one 1-epoch job, as a user's are
after their first job. `--cold` gives every job a fresh user cache instead: no
compiled XLA programs, no empty MLflow database to copy (the store itself still
exists), as on a machine's first job.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import (
    BENCHMARKS,
    CHECKOUT,
    baseline_config,
    export_revision,
    load_full_data,
    open_store,
    results_file,
    write_results,
)
from imdb_sweep import user_cache_dir


def run_stock(epochs: int, env: dict[str, str], seed: int, data_config: str) -> dict:
    started = time.time()
    result = subprocess.run([sys.executable, str(BENCHMARKS / "stock_reference.py"), str(epochs), str(seed),
                             data_config], env=env, capture_output=True, text=True, check=True)
    wall = time.time() - started
    line = next(out for out in result.stdout.splitlines() if out.startswith("BENCHMARK "))
    measured = json.loads(line.removeprefix("BENCHMARK "))
    return {"epoch_seconds": measured["epoch_seconds"], "test_accuracy": measured["test_accuracy"],
            "best_val_accuracy": measured["best_val_accuracy"], "wall_seconds": wall}


def run_project(epochs: int, env: dict[str, str], extra: list[str], store: str, seed: int) -> dict:
    started = time.time()
    finished = subprocess.run(
        [sys.executable, "-m", "imdb_sweep", f"train.epochs={epochs}", f"seed={seed}", f"tracking.store_dir={store}",
         "tracking.log_model=false", "sweep.rerun=all", "hydra.run.dir=" + store + "/outputs",
         f"data.cache_dir={DATA_CACHE}", *extra],
        env=env, cwd=store, capture_output=True, text=True,
    )
    wall = time.time() - started
    if finished.returncode != 0:
        sys.exit(f"the job failed:\n{finished.stderr[-3000:]}")
    client, experiment_id = open_store(store)
    run = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])[0]
    epochs_logged = sorted(client.get_metric_history(run.info.run_id, "epoch_seconds"), key=lambda p: p.step)
    return {"epoch_seconds": [p.value for p in epochs_logged],
            "test_accuracy": run.data.metrics["test_accuracy"],
            "best_val_accuracy": run.data.metrics["best_val_accuracy"],
            "metrics": {name: value for name, value in run.data.metrics.items() if "seconds" not in name},
            "wall_seconds": wall,
            "job_seconds": run.data.metrics["job_seconds"],
            "train_seconds": run.data.metrics["train_seconds"],
            "evaluate_seconds": run.data.metrics["evaluate_seconds"],
            "data_seconds": run.data.metrics["data_seconds"]}


# The encoded reviews, shared by every side: a side's own user cache holds only
# what imdb_sweep compiles and copies (data.cache_dir keeps the reviews apart).
DATA_CACHE = user_cache_dir()


def job_environment(checkout: Path, cache: Path) -> dict[str, str]:
    """The environment in which `python -m imdb_sweep` runs `checkout`'s package with user cache `cache`."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(checkout), "IMDB_SWEEP_CACHE_DIR": str(cache)}
    found = subprocess.run([sys.executable, "-c", "import imdb_sweep; print(imdb_sweep.__file__)"], env=env,
                           cwd=cache, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(checkout.resolve()):
        sys.exit(f"python -m imdb_sweep would import {found}, not the package of {checkout}")
    return env


def steady(epoch_seconds: list[float]) -> float:
    return statistics.median(epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=results_file("speed"))
    parser.add_argument("--vary-seed", action="store_true",
                        help="round r trains both sides with seed 42 + r - 1 (accuracy as mean ± std over seeds)")
    parser.add_argument("--before", metavar="REV", help="also run the job of git revision REV, in every round")
    parser.add_argument("--cold", action="store_true", help="every job with a fresh user cache (a first job)")
    parser.add_argument("extra", nargs="*", help="overrides for the imdb_sweep job (after --)")
    args = parser.parse_args()

    cfg = baseline_config(*args.extra)
    # The stock script gets the job's data config as JSON: it then imports no more of
    # our stack than imdb_sweep.data, as before, so its wall time stays comparable.
    from omegaconf import OmegaConf

    data_config = json.dumps(OmegaConf.to_container(cfg.data))
    # Warm the encoded-data cache so neither side pays the one-time tokenization.
    load_full_data(cfg)
    stock_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(CHECKOUT)}

    scratch = Path(tempfile.mkdtemp(prefix="imdb_sweep_speed_"))
    checkouts = {"job": CHECKOUT}
    if args.before:
        checkouts = {f"before ({args.before})": export_revision(args.before, scratch / "before"),
                     f"after ({CHECKOUT.name})": CHECKOUT}
    sides = {}
    for number, (side, checkout) in enumerate(checkouts.items()):
        store, cache = scratch / f"store_{number}", scratch / f"cache_{number}"
        store.mkdir()
        cache.mkdir()
        env = job_environment(checkout, cache)
        # One store (and user cache) per side, made by a 1-epoch warm-up job: a user's
        # store exists after their first job.
        run_project(1, env, args.extra, str(store), cfg.seed)
        sides[side] = {"checkout": str(checkout), "env": env, "store": str(store), "cache": cache}

    rounds = []
    for round_number in range(1, args.rounds + 1):
        seed = cfg.seed + round_number - 1 if args.vary_seed else cfg.seed
        stock = run_stock(args.epochs, stock_env, seed, data_config)
        entry = {"seed": seed, "stock": stock}
        for side, state in sides.items():
            if args.cold:
                shutil.rmtree(state["cache"])
                state["cache"].mkdir()
            entry[side] = run_project(args.epochs, state["env"], args.extra, state["store"], seed)
        rounds.append(entry)
        print(f"round {round_number}: stock {stock['wall_seconds']:.1f} s, "
              + ", ".join(f"{side} {entry[side]['wall_seconds']:.1f} s" for side in sides), flush=True)

    def summary(side: str) -> dict:
        walls = [r[side]["wall_seconds"] for r in rounds]
        return {
            "steady_epoch_seconds": statistics.median(steady(r[side]["epoch_seconds"]) for r in rounds),
            "wall_seconds": statistics.median(walls),
            "wall_seconds_range": [min(walls), max(walls)],
            "test_accuracy": statistics.mean(r[side]["test_accuracy"] for r in rounds),
            "test_accuracy_std": (statistics.stdev([r[side]["test_accuracy"] for r in rounds])
                                  if len(rounds) > 1 else 0.0),
            "best_val_accuracy": statistics.mean(r[side]["best_val_accuracy"] for r in rounds),
        }

    def round_ratios(side: str) -> list[float]:
        return [r["stock"]["wall_seconds"] / r[side]["wall_seconds"] for r in rounds]

    stock = summary("stock")
    results = {"epochs": args.epochs, "rounds": rounds, "stock": stock, "project_overrides": args.extra,
               "cold": args.cold, "sides": {}}
    print()
    print(f"| | stock Keras script | {' | '.join(sides)} |")
    print("|---|---|" + "---|" * len(sides))
    summaries = {side: summary(side) for side in sides}
    print(f"| steady epoch (s, median of epochs 2..{args.epochs}) | {stock['steady_epoch_seconds']:.2f} | "
          + " | ".join(f"{summaries[side]['steady_epoch_seconds']:.2f}" for side in sides) + " |")
    print(f"| whole job, process start to exit (s, median) | {stock['wall_seconds']:.1f} | "
          + " | ".join(f"{summaries[side]['wall_seconds']:.1f}" for side in sides) + " |")
    print("| whole-job speed-up, median of the rounds' stock / job (lowest-highest) | | "
          + " | ".join(f"{statistics.median(round_ratios(side)):.2f}x ({min(round_ratios(side)):.2f}-"
                       f"{max(round_ratios(side)):.2f}x)" for side in sides) + " |")
    print("| test accuracy (mean ± std over rounds) | "
          f"{stock['test_accuracy']:.4f} ± {stock['test_accuracy_std']:.4f} | "
          + " | ".join(f"{summaries[side]['test_accuracy']:.4f} ± {summaries[side]['test_accuracy_std']:.4f}"
                       for side in sides) + " |")
    for side in sides:
        outside = [r[side]["wall_seconds"] - r[side]["train_seconds"] for r in rounds]
        print(f"\n{side}: per round {', '.join(f'{ratio:.2f}x' for ratio in round_ratios(side))}; "
              f"outside fit {statistics.median(outside):.1f} s of the process's wall time (median), "
              f"fit {statistics.median(r[side]['train_seconds'] for r in rounds):.1f} s, "
              f"test evaluation {statistics.median(r[side]['evaluate_seconds'] for r in rounds):.2f} s")
        results["sides"][side] = {"checkout": sides[side]["checkout"], "summary": summaries[side],
                                  "round_ratios": round_ratios(side),
                                  "outside_fit_seconds": statistics.median(outside)}
    if args.before:
        before, after = list(sides)
        same = all(r[before]["metrics"] == r[after]["metrics"] for r in rounds)
        print(f"\nevery metric of the run the same, before and after, in every round: {same}")
        results["same_metrics"] = same

    shutil.rmtree(scratch, ignore_errors=True)
    write_results(args.output, results)


if __name__ == "__main__":
    main()
