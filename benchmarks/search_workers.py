"""One worker against two on the same search, on this machine.

    python benchmarks/search_workers.py [--trials 16] [--epochs 10] [--seed 1] [-- key=value ...]

Runs the search of benchmarks/search.py's space (TPE with ASHA pruning,
`--trials` trials, full data) twice into fresh local stores: once as one
`python -m imdb_sweep -m hydra/sweeper=imdb_optuna ...` worker, once as two such
workers started together on the same study (the same command twice: the
second joins). With two workers each takes one TensorFlow thread
(`runtime.threads=1`, as `hydra/launcher=parallel` sets it), so that together
they use the 2 cores as the single worker's two threads do. Reports the wall
time (first start to last exit), the trials and epochs trained, and the best
validation accuracy found, for each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import require_archive, results_file, write_results
from search import read_search, space


def run_workers(workers: int, store: Path, arguments: list[str]) -> dict:
    threads = ["runtime.threads=1"] if workers > 1 else []
    command = [sys.executable, "-m", "imdb_sweep", "-m", *arguments, *threads,
               f"tracking.store_dir={store}", f"hydra.sweep.dir={store}/outputs"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.time()
    processes = [subprocess.Popen(command, cwd=store, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for _ in range(workers)]
    outputs = [process.communicate()[0] for process in processes]
    wall = time.time() - started
    for process, output in zip(processes, outputs):
        if process.returncode != 0:
            sys.exit(f"a worker failed:\n{output[-3000:]}")
    return {"workers": workers, "wall_seconds": wall, **read_search(store)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="the sampler's seed")
    parser.add_argument("--output", type=Path, default=results_file("search_workers"))
    parser.add_argument("extra", nargs="*", help="overrides for every job (after --)")
    args = parser.parse_args()
    require_archive()
    arguments = ["hydra/sweeper=imdb_optuna", "hydra.sweeper.pruner=asha", f"hydra.sweeper.n_trials={args.trials}",
                 f"hydra.sweeper.sampler.seed={args.seed}", f"train.epochs={args.epochs}", "runtime.verbose=0",
                 *space("search"), *args.extra]
    results = []
    with tempfile.TemporaryDirectory(prefix="search-workers-") as folder:
        for workers in (1, 2):
            store = Path(folder) / f"workers{workers}"
            store.mkdir()
            results.append(run_workers(workers, store, arguments))
            print(f"{workers} worker(s): {results[-1]['wall_seconds']:.0f} s, {results[-1]['trials']} trials "
                  f"({results[-1]['pruned']} pruned), {results[-1]['epochs']} epochs, best val "
                  f"{results[-1]['best_val_accuracy']:.4f}", flush=True)
    write_results(args.output, {"trials": args.trials, "epochs": args.epochs, "results": results})
    one, two = results
    print("\n| workers | wall time | trials (pruned) | epochs | best val acc |\n|---|---|---|---|---|")
    for result in results:
        print(f"| {result['workers']} | {result['wall_seconds']:.0f} s | {result['trials']} ({result['pruned']}) | "
              f"{result['epochs']} | {result['best_val_accuracy']:.4f} |")
    print(f"\ntwo workers take {two['wall_seconds'] / one['wall_seconds']:.2f}x the wall time of one")


if __name__ == "__main__":
    main()
