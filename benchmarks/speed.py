"""Stock Keras script vs one `python -m imdb_sweep` job, same data and hyperparameters.

    python benchmarks/speed.py --rounds 4 [--epochs 10] [--vary-seed] [--output benchmarks/results/speed.json]

Runs, alternating so that machine noise hits both alike: (a) the reference
notebook's script (benchmarks/stock_reference.py) and (b) one imdb_sweep job of
the baseline configuration, each in a fresh process. Reports per-epoch steady
time (epochs 2..n: epoch 1 includes tracing/compiling), whole-job wall time
from process start to exit, test accuracy, and the ratios, as a table and JSON.
Extra arguments after `--` go to the imdb_sweep job (e.g. `-- train.fuse_steps=false`).
Both sides read the same data config, composed from conf/ (benchmarks/baseline.py).
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
    baseline_config,
    load_full_data,
    open_store,
    results_file,
    write_results,
)


def run_stock(epochs: int, env: dict[str, str], seed: int, data_config: str) -> dict:
    started = time.time()
    result = subprocess.run([sys.executable, str(BENCHMARKS / "stock_reference.py"), str(epochs), str(seed),
                             data_config], env=env, capture_output=True, text=True, check=True)
    wall = time.time() - started
    line = next(l for l in result.stdout.splitlines() if l.startswith("BENCHMARK "))
    measured = json.loads(line.removeprefix("BENCHMARK "))
    return {"epoch_seconds": measured["epoch_seconds"], "test_accuracy": measured["test_accuracy"],
            "best_val_accuracy": measured["best_val_accuracy"], "wall_seconds": wall}


def run_project(epochs: int, env: dict[str, str], extra: list[str], store: str, seed: int) -> dict:
    started = time.time()
    subprocess.run(
        [sys.executable, "-m", "imdb_sweep", f"train.epochs={epochs}", f"seed={seed}", f"tracking.store_dir={store}",
         "tracking.log_model=false", "sweep.rerun=all", "hydra.run.dir=" + store + "/outputs", *extra],
        env=env, cwd=store, capture_output=True, text=True, check=True,
    )
    wall = time.time() - started
    client, experiment_id = open_store(store)
    run = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"])[0]
    epochs_logged = sorted(client.get_metric_history(run.info.run_id, "epoch_seconds"), key=lambda p: p.step)
    return {"epoch_seconds": [p.value for p in epochs_logged],
            "test_accuracy": run.data.metrics["test_accuracy"],
            "best_val_accuracy": run.data.metrics["best_val_accuracy"],
            "wall_seconds": wall,
            "job_seconds": run.data.metrics["job_seconds"],
            "train_seconds": run.data.metrics["train_seconds"]}


def steady(epoch_seconds: list[float]) -> float:
    return statistics.median(epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", type=Path, default=results_file("speed"))
    parser.add_argument("--vary-seed", action="store_true",
                        help="round r trains both sides with seed 42 + r - 1 (accuracy as mean ± std over seeds)")
    parser.add_argument("extra", nargs="*", help="overrides for the imdb_sweep job (after --)")
    args = parser.parse_args()

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cfg = baseline_config(*args.extra)
    # The stock script gets the job's data config as JSON: it then imports no more of
    # our stack than imdb_sweep.data, as before, so its wall time stays comparable.
    from omegaconf import OmegaConf

    data_config = json.dumps(OmegaConf.to_container(cfg.data))
    # Warm the encoded-data cache so neither side pays the one-time tokenization.
    load_full_data(cfg)

    # One store for all rounds, created by a 1-epoch warm-up job: a user's store
    # exists after their first job (creating it costs about 2.5 s of migrations).
    store = tempfile.mkdtemp(prefix="imdb_sweep_speed_")
    run_project(1, env, args.extra, store, cfg.seed)

    rounds = []
    for round_number in range(1, args.rounds + 1):
        seed = cfg.seed + round_number - 1 if args.vary_seed else cfg.seed
        stock = run_stock(args.epochs, env, seed, data_config)
        project = run_project(args.epochs, env, args.extra, store, seed)
        rounds.append({"seed": seed, "stock": stock, "project": project})
        print(f"round {round_number}: stock {stock['wall_seconds']:.1f} s, imdb_sweep {project['wall_seconds']:.1f} s",
              flush=True)

    def summary(side: str) -> dict:
        return {
            "steady_epoch_seconds": statistics.median(steady(r[side]["epoch_seconds"]) for r in rounds),
            "wall_seconds": statistics.median(r[side]["wall_seconds"] for r in rounds),
            "test_accuracy": statistics.mean(r[side]["test_accuracy"] for r in rounds),
            "test_accuracy_std": statistics.stdev([r[side]["test_accuracy"] for r in rounds]) if len(rounds) > 1 else 0.0,
            "best_val_accuracy": statistics.mean(r[side]["best_val_accuracy"] for r in rounds),
        }

    stock, project = summary("stock"), summary("project")
    ratios = {
        "steady_epoch": stock["steady_epoch_seconds"] / project["steady_epoch_seconds"],
        "wall": stock["wall_seconds"] / project["wall_seconds"],
    }
    overheads = [1 - r["project"]["train_seconds"] / r["project"]["wall_seconds"] for r in rounds]
    in_job = [1 - r["project"]["train_seconds"] / r["project"]["job_seconds"] for r in rounds]
    print()
    print("| | stock Keras script | imdb_sweep job | speed-up |")
    print("|---|---|---|---|")
    print(f"| steady epoch (s, median of epochs 2..{args.epochs}) | {stock['steady_epoch_seconds']:.2f} | "
          f"{project['steady_epoch_seconds']:.2f} | {ratios['steady_epoch']:.2f}x |")
    print(f"| whole job, process start to exit (s) | {stock['wall_seconds']:.1f} | {project['wall_seconds']:.1f} | "
          f"{ratios['wall']:.2f}x |")
    print(f"| test accuracy (mean ± std over rounds) | {stock['test_accuracy']:.4f} ± {stock['test_accuracy_std']:.4f} | "
          f"{project['test_accuracy']:.4f} ± {project['test_accuracy_std']:.4f} | |")
    print(f"| best val accuracy | {stock['best_val_accuracy']:.4f} | {project['best_val_accuracy']:.4f} | |")
    print(f"\nimdb_sweep time outside fit: {100 * statistics.median(overheads):.1f}% of the process's wall "
          f"time, {100 * statistics.median(in_job):.1f}% of run_job (which includes importing TensorFlow; "
          "in a multirun that happens once, see the sweep figures)")

    shutil.rmtree(store, ignore_errors=True)
    write_results(args.output, {
        "epochs": args.epochs, "rounds": rounds, "stock": stock, "project": project, "ratios": ratios,
        "project_overrides": args.extra, "outside_fit_fraction": statistics.median(overheads),
    })


if __name__ == "__main__":
    main()
