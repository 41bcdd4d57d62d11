"""What a rerun saves after a sweep is killed with SIGKILL in its second job.

    python benchmarks/resume_after_kill.py [--epochs 3] [--train-limit 5000]

1. Starts a 3-job sweep (model.units=16,32,64) on a subset of the real archive
   and kills it with SIGKILL when job 2 begins its second epoch.
2. Reruns the same command: job 1 is skipped, job 2 resumes in its own run
   from its checkpoint, job 3 trains.
3. Runs the same sweep from scratch in a fresh store, for comparison.
Prints what each step trained, the wall times, the time saved and the final
run statuses in MLflow.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baseline import baseline_config, open_store, require_archive


def sweep_arguments(epochs: int, train_limit: int) -> list[str]:
    return ["-m", "model.units=16,32,64", f"train.epochs={epochs}", f"data.train_limit={train_limit}",
            "data.test_limit=2000", "runtime.verbose=2", "tracking.log_model=false"]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": ""}


def run_until_killed(cwd: Path, arguments: list[str]) -> tuple[float, str]:
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", "imdb_sweep", *arguments], cwd=cwd, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, in_second = [], False
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        # Every line of a job starts with its label ("[2/3] Epoch 2/3").
        in_second = in_second or line.startswith("[2/3]")
        if in_second and line.startswith("[2/3] Epoch 2/"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    if process.returncode != -signal.SIGKILL:
        sys.exit("the sweep ended before job 2's second epoch:\n" + "".join(seen)[-3000:])
    return time.time() - started, "".join(seen)


def run(cwd: Path, arguments: list[str]) -> tuple[float, str]:
    started = time.time()
    result = subprocess.run([sys.executable, "-m", "imdb_sweep", *arguments], cwd=cwd, env=environment(),
                            capture_output=True, text=True, check=True)
    return time.time() - started, result.stdout


def statuses(cwd: Path) -> dict[str, int]:
    from imdb_sweep import contract

    # The jobs ran in `cwd` with the default local store (tracking.store_dir).
    client, experiment_id = open_store(cwd / baseline_config().tracking.store_dir)
    runs = client.search_runs([experiment_id])
    return dict(collections.Counter(f"{r.data.tags.get(contract.ROLE)} {r.info.status}" for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=5000)
    args = parser.parse_args()
    require_archive()
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2: the sweep is killed in job 2's second epoch")
    arguments = sweep_arguments(args.epochs, args.train_limit)

    with tempfile.TemporaryDirectory() as resumed_dir, tempfile.TemporaryDirectory() as scratch_dir:
        resumed, scratch = Path(resumed_dir), Path(scratch_dir)
        killed_after, _ = run_until_killed(resumed, arguments)
        print(f"1. sweep killed (SIGKILL) at the start of job 2's epoch 2 after {killed_after:.1f} s")
        print(f"   left in MLflow: {statuses(resumed)}")
        rerun_seconds, rerun_output = run(resumed, arguments)
        print(f"2. rerun of the same command: {rerun_seconds:.1f} s")
        for line in rerun_output.splitlines():
            if line.startswith("[") and any(word in line for word in ("skipped", "resuming", "done")) \
                    or line.startswith("Marked run"):
                print("   " + line[:160])
        print(f"   final statuses in MLflow: {statuses(resumed)}")
        scratch_seconds, _ = run(scratch, arguments)
        print(f"3. the same sweep from scratch: {scratch_seconds:.1f} s")
        print(f"   the rerun saved {scratch_seconds - rerun_seconds:.1f} s "
              f"({100 * (1 - rerun_seconds / scratch_seconds):.0f}% of the from-scratch time)")


if __name__ == "__main__":
    main()
