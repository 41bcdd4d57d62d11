"""Grid, random search and TPE with ASHA pruning on one fixed space, full data.

    python benchmarks/search.py [--trials 16] [--seeds 1 2 3] [--epochs 10] [-- key=value ...]

The space (48 configurations): model.units {16,32,64,128} x model.hidden_layers
{1,2} x model.dropout {0,0.25,0.5} x model.l2 {0,0.001}, every job
`train.epochs` epochs (10) on the whole archive. Runs, each a real
`python -m imdb_sweep -m ...` into a fresh local store (so no search reuses
another's runs):
- the whole grid once (Hydra's basic sweeper: every configuration, every epoch);
- random search, `--trials` trials, no pruning, once per sampler seed;
- TPE with ASHA pruning (min_resource 1, reduction factor 3), `--trials`
  trials, once per sampler seed.
For each: epochs trained (over all its jobs, pruned ones included), wall time
(process start to exit), the best validation accuracy found (complete trials
only), the test accuracy of the configuration it picks (reported, never used
to pick), and the gap to the grid's best validation accuracy. The goal: TPE
with pruning within 0.3 points of the grid's best with at most 30% of the
grid's epochs.

Every job trains with the same seed, so a configuration gives the same
numbers whichever search proposes it (up to CPU float nondeterminism); the
searches differ only in which configurations they try and how long.
Extra arguments after `--` go to every job (a quick check:
`--trials 4 --seeds 1 --epochs 2 -- data.train_limit=2000 data.test_limit=500`).
`--kinds tpe+asha --asha-min-resource 2 --grid-from benchmarks/results/search.json`
runs one kind of search again, with another ASHA setting, against an earlier run's grid.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import open_store, require_archive, results_file, write_results

GRID = {
    "model.units": "16,32,64,128",
    "model.hidden_layers": "1,2",
    "model.dropout": "0.0,0.25,0.5",
    "model.l2": "0.0,0.001",
}


def space(grammar: str) -> list[str]:
    """The space as overrides: the basic sweeper's `a,b` or the search's `choice(a,b)`."""
    return [f"{key}={values}" if grammar == "grid" else f"{key}=choice({values})" for key, values in GRID.items()]


def run(name: str, arguments: list[str], store: Path, epochs: int, extra: list[str]) -> dict:
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "imdb_sweep", "-m", *arguments, f"train.epochs={epochs}", "runtime.verbose=0",
         f"tracking.store_dir={store}", f"hydra.sweep.dir={store}/outputs", *extra],
        cwd=store, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True,
    )
    wall = time.time() - started
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return {"name": name, "wall_seconds": wall, **read_search(store)}


def read_search(store: Path) -> dict:
    from imdb_sweep import contract

    client, experiment_id = open_store(store)
    runs = client.search_runs([experiment_id], f"tags.`{contract.ROLE}` = 'job'", max_results=1000)
    complete = [run for run in runs if run.info.status == "FINISHED" and contract.PRUNED_AT_EPOCH not in run.data.tags]
    best = max(complete, key=lambda run: run.data.metrics["best_val_accuracy"])
    parents = client.search_runs([experiment_id], f"tags.`{contract.ROLE}` = 'sweep'")
    # A configuration proposed twice is answered by its FINISHED run: a trial without a run of its own.
    reused = sum(key.startswith(contract.REUSED_PREFIX) for parent in parents for key in parent.data.tags)
    return {
        "trials": len(runs) + reused,
        "reused": reused,
        "pruned": sum(contract.PRUNED_AT_EPOCH in run.data.tags for run in runs),
        "epochs": int(sum(run.data.metrics["epochs_trained"] for run in runs)),
        "best_val_accuracy": best.data.metrics["best_val_accuracy"],
        "picked_test_accuracy": best.data.metrics["test_accuracy"],
        "picked": {key: best.data.params[key] for key in GRID},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16, help="trial budget of each search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="sampler seeds")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--kinds", nargs="+", choices=("grid", "random", "tpe+asha"),
                        default=["grid", "random", "tpe+asha"], help="which searches to run")
    parser.add_argument("--asha-min-resource", type=int, default=1,
                        help="ASHA's first rung (epochs), hydra.sweeper.pruners.asha.min_resource")
    parser.add_argument("--grid-from", type=Path, metavar="JSON",
                        help="without the grid in --kinds: take the grid's row from an earlier results file")
    parser.add_argument("--output", type=Path, default=results_file("search"))
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --)")
    args = parser.parse_args()
    require_archive()

    plans = [("grid", ["sweep.rerun=all", *space("grid")])] if "grid" in args.kinds else []
    for seed in args.seeds:
        search = ["hydra/sweeper=imdb_optuna", f"hydra.sweeper.n_trials={args.trials}",
                  f"hydra.sweeper.sampler.seed={seed}", *space("search")]
        if "random" in args.kinds:
            plans.append((f"random seed {seed}", ["hydra/sweeper/imdb_sampler=random", "hydra.sweeper.pruner=none",
                                                   *search]))
        if "tpe+asha" in args.kinds:
            asha = f"hydra.sweeper.pruners.asha.min_resource={args.asha_min_resource}"
            plans.append((f"tpe+asha seed {seed}", ["hydra/sweeper/imdb_sampler=tpe", "hydra.sweeper.pruner=asha",
                                                     asha, *search]))
    if "grid" not in args.kinds and args.grid_from is None:
        sys.exit("without the grid in --kinds, --grid-from names the results file that has its row")
    # Every row is compared with the grid's: run here, or read from an earlier run.
    results = [] if "grid" in args.kinds else [json.loads(args.grid_from.read_text())["results"][0]]
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        for index, (name, arguments) in enumerate(plans):
            store = Path(folder) / f"store{index}"
            store.mkdir()
            results.append(run(name, arguments, store, args.epochs, args.extra))
            print(summary_line(results[-1], results[0]), flush=True)
    write_results(args.output, {"trials": args.trials, "epochs": args.epochs, "extra": args.extra,
                                "results": results})
    print()
    print(markdown(results))


def summary_line(result: dict, grid: dict) -> str:
    return (f"{result['name']}: {result['trials']} trials ({result['pruned']} pruned, {result.get('reused', 0)} "
            f"answered by an earlier run), {result['epochs']} epochs "
            f"({result['epochs'] / grid['epochs']:.0%} of the grid's), {result['wall_seconds']:.0f} s, best val "
            f"{result['best_val_accuracy']:.4f} ({100 * (result['best_val_accuracy'] - grid['best_val_accuracy']):+.2f}"
            f" points), picked test {result['picked_test_accuracy']:.4f}")


def markdown(results: list[dict]) -> str:
    grid = results[0]
    lines = ["| search | trials (pruned, reused) | epochs | share of grid's epochs | wall time | best val acc | "
             "vs grid best | picked config's test acc | picked config |",
             "|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        picked = ", ".join(f"{key.split('.')[1]}={value}" for key, value in result["picked"].items())
        lines.append(
            f"| {result['name']} | {result['trials']} ({result['pruned']}, {result.get('reused', 0)}) | "
            f"{result['epochs']} | "
            f"{result['epochs'] / grid['epochs']:.0%} | {result['wall_seconds']:.0f} s | "
            f"{result['best_val_accuracy']:.4f} | "
            f"{100 * (result['best_val_accuracy'] - grid['best_val_accuracy']):+.2f} "
            f"| {result['picked_test_accuracy']:.4f} | {picked} |")
    for kind in ("random", "tpe+asha"):
        runs = [result for result in results if result["name"].startswith(kind)]
        if runs:
            gaps = [100 * (result["best_val_accuracy"] - grid["best_val_accuracy"]) for result in runs]
            shares = [result["epochs"] / grid["epochs"] for result in runs]
            lines.append(f"\n{kind}: gap to the grid's best {statistics.mean(gaps):+.2f} points on average "
                         f"(worst {min(gaps):+.2f}), {statistics.mean(shares):.0%} of the grid's epochs "
                         f"(most {max(shares):.0%})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
