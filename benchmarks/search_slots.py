"""Slot use of a pruned search, batches (--before) against slots (this checkout).

    python benchmarks/search_slots.py --before REVISION [--trials 12] [--epochs 4] [--seed 1] [-- key=value ...]

The same search (benchmarks/search.py's space, TPE with ASHA, `hydra/launcher=parallel`:
2 slots, one TensorFlow thread each) run by REVISION's code and by this checkout's,
each into a fresh store. Slot use = the sum of the trials' run times (each MLflow
run's start to end) / (slots x the search's wall time, its parent run's start to
end): the share of the slots' time spent inside a trial's run. What is left is a
slot waiting (for the slowest trial of a batch, before) or a job starting (its
config composed, its data read, its run created: both sides pay that).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import CHECKOUT, export_revision, open_store, require_archive, results_file, write_results
from search import space

SLOTS = 2  # hydra/launcher=parallel's n_jobs


def run_search(code: Path, store: Path, arguments: list[str]) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(code)}
    started = time.time()
    result = subprocess.run([sys.executable, "-m", "imdb_sweep", "-m", *arguments, f"tracking.store_dir={store}",
                             f"hydra.sweep.dir={store}/outputs"], cwd=store, env=env, capture_output=True, text=True)
    command_seconds = time.time() - started
    if result.returncode != 0:
        sys.exit(f"the search failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return {"command_seconds": command_seconds, **slot_use(store)}


def slot_use(store: Path) -> dict:
    from imdb_sweep import contract

    client, experiment_id = open_store(store)
    (parent,) = client.search_runs([experiment_id], f"tags.`{contract.ROLE}` = 'sweep'")
    runs = client.search_runs([experiment_id], f"tags.`{contract.ROLE}` = 'job'", max_results=1000)
    wall = (parent.info.end_time - parent.info.start_time) / 1000
    in_runs = sum((run.info.end_time - run.info.start_time) / 1000 for run in runs)
    return {"search_seconds": wall, "trial_run_seconds": in_runs, "slot_use": in_runs / (SLOTS * wall),
            "runs": len(runs), "pruned": sum(contract.PRUNED_AT_EPOCH in run.data.tags for run in runs),
            "epochs": int(sum(run.data.metrics["epochs_trained"] for run in runs)),
            "best_val_accuracy": max(run.data.metrics["best_val_accuracy"] for run in runs
                                     if contract.PRUNED_AT_EPOCH not in run.data.tags)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the revision whose search runs trials in batches")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="the sampler's seed")
    parser.add_argument("--output", type=Path, default=results_file("search_slots"))
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --), e.g. data.train_limit=4000")
    args = parser.parse_args()
    require_archive()
    arguments = ["hydra/sweeper=imdb_optuna", "hydra/launcher=parallel", "hydra.sweeper.pruner=asha",
                 f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.sampler.seed={args.seed}",
                 f"train.epochs={args.epochs}", "runtime.verbose=0", "tracking.log_model=false",
                 *space("search"), *args.extra]
    results = {}
    with tempfile.TemporaryDirectory(prefix="search-slots-") as folder:
        sides = {f"batches ({args.before})": export_revision(args.before, Path(folder) / "before"),
                 "slots (this checkout)": CHECKOUT}
        for name, code in sides.items():
            store = Path(folder) / name.split()[0]
            store.mkdir()
            results[name] = run_search(code, store, arguments)
            print(f"{name}: {results[name]}", flush=True)
    write_results(args.output, {"trials": args.trials, "epochs": args.epochs, "seed": args.seed,
                                "extra": args.extra, "results": results})
    print("\n| side | slot use | search wall | trial run time | runs (pruned) | epochs | best val acc |")
    print("|---|---|---|---|---|---|---|")
    for name, result in results.items():
        print(f"| {name} | {result['slot_use']:.2f} | {result['search_seconds']:.0f} s | "
              f"{result['trial_run_seconds']:.0f} s | {result['runs']} ({result['pruned']}) | {result['epochs']} | "
              f"{result['best_val_accuracy']:.4f} |")


if __name__ == "__main__":
    main()
