"""Journal file or SQLite for a study shared by workers on one machine.

    python benchmarks/search_storage.py [--workers 2 4] [--trials 100] [--rounds 3]

Each worker is a process that asks for `--trials` trials of one shared study
and tells each a value at once (a trivial objective: only the storage is
measured), the way our sweeper does between jobs, through
imdb_sweep.search.storage.open_storage (the same lock timeout and settings as a
search). Reports per storage and worker count: the wall time of all workers
(median over rounds, the storages alternating), the trials that ended up in the
study, and the errors workers hit. A real trial takes 15-40 s; this shows
whether the storage ever gets in the way, and how often it fails under
contention.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from baseline import results_file, write_results


def worker(storage: str, study_name: str, trials: int, errors: multiprocessing.Queue) -> None:
    import optuna

    from imdb_sweep.search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    for _ in range(trials):
        try:
            trial = study.ask({"x": optuna.distributions.FloatDistribution(0.0, 1.0)})
            study.tell(trial, trial.params["x"] ** 2)
        except Exception as error:  # noqa: BLE001 - counted, the point of the benchmark
            errors.put(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")


def one_round(kind: str, folder: Path, workers: int, trials: int) -> dict:
    import optuna

    from imdb_sweep.search.storage import open_storage

    storage = str(folder / "study.journal") if kind == "journal" else f"sqlite:///{folder / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="bench", storage=open_storage(storage))
    errors: multiprocessing.Queue = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=worker, args=(storage, "bench", trials, errors))
                 for _ in range(workers)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    wall = time.perf_counter() - started
    messages = []
    while not errors.empty():
        messages.append(errors.get())
    finished = len(optuna.load_study(study_name="bench", storage=open_storage(storage)).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,)))
    return {"wall_seconds": wall, "complete": finished, "errors": messages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--trials", type=int, default=100, help="trials per worker")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=results_file("search_storage"))
    args = parser.parse_args()
    samples: dict[str, list[dict]] = {}
    for workers in args.workers:
        for _ in range(args.rounds):
            for kind in ("journal", "sqlite"):
                with tempfile.TemporaryDirectory() as folder:
                    samples.setdefault(f"{kind} x{workers}", []).append(
                        one_round(kind, Path(folder), workers, args.trials))
    write_results(args.output, {"trials_per_worker": args.trials, "samples": samples})
    print("| storage x workers | wall time (median) | ask+tell per second | trials in the study | errors |")
    print("|---|---|---|---|---|")
    for name, rounds in samples.items():
        wall = statistics.median(r["wall_seconds"] for r in rounds)
        workers = int(name.split("x")[1])
        errors = sum(len(r["errors"]) for r in rounds)
        print(f"| {name} | {wall:.1f} s | {workers * args.trials / wall:.0f} | "
              f"{min(r['complete'] for r in rounds)}-{max(r['complete'] for r in rounds)} of "
              f"{workers * args.trials} | {errors} |")
        for message in sorted({m for r in rounds for m in r["errors"]})[:3]:
            print(f"|   {message} | | | | |")


if __name__ == "__main__":
    main()
