"""Settings that act on the whole process, compared in fresh processes, alternating.

    python benchmarks/process_settings.py --rounds 3 --epochs 5 \\
        "runtime.keep_freed_memory=false" "runtime.keep_freed_memory=true"

Some speed settings cannot be compared side by side in one process the way
benchmarks/levers.py does, because they are process-wide and one-way (glibc's
malloc settings, TensorFlow's thread pools). This script trains the baseline
once per setting per round, each in a fresh `benchmarks/train_only.py`
process, the settings in turn so that the machine's noise hits them alike. Per
setting it reports the median steady epoch (epochs 2..n), the page faults and
CPU seconds of the process (from getrusage), and the test accuracy. Each
argument is one setting: space-separated overrides, or "-" for the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from baseline import BENCHMARKS, require_archive, results_file, write_results


def run_once(epochs: int, overrides: list[str]) -> dict:
    """One fresh benchmarks/train_only.py process: its epochs, accuracies and resource use."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "train_only.py"), f"train.epochs={epochs}", "runtime.verbose=0",
         *overrides],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True, check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(out for out in result.stdout.splitlines() if out.startswith("TRAIN_ONLY "))
    measured = json.loads(line.removeprefix("TRAIN_ONLY "))
    return {
        "epoch_seconds": measured["epoch_seconds"],
        "steady_epoch_seconds": statistics.median(measured["epoch_seconds"][1:]),
        "test_accuracy": measured["test_accuracy"],
        "best_val_accuracy": measured["best_val_accuracy"],
        "page_faults": after.ru_minflt - before.ru_minflt,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "kernel_cpu_seconds": after.ru_stime - before.ru_stime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=results_file("process_settings"))
    parser.add_argument("settings", nargs="+", help='space-separated overrides per setting; "-" = defaults')
    args = parser.parse_args()
    require_archive()
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2: the first epoch includes compiling")

    runs: dict[str, list[dict]] = {setting: [] for setting in args.settings}
    for round_number in range(1, args.rounds + 1):
        for setting in args.settings:
            overrides = [] if setting == "-" else setting.split()
            run = run_once(args.epochs, overrides)
            runs[setting].append(run)
            print(f"round {round_number} {setting}: steady epoch {run['steady_epoch_seconds']:.2f} s, "
                  f"{run['page_faults']:,} page faults, {run['kernel_cpu_seconds']:.1f} s kernel CPU", flush=True)

    first = args.settings[0]
    baseline = statistics.median(r["steady_epoch_seconds"] for r in runs[first])
    summary = {}
    print(f"\n| setting | steady epoch (median) | vs {first} | page faults | kernel CPU | CPU | test acc |")
    print("|---|---|---|---|---|---|---|")
    for setting, setting_runs in runs.items():
        epoch = statistics.median(r["steady_epoch_seconds"] for r in setting_runs)
        summary[setting] = {
            "steady_epoch_seconds": epoch,
            "speedup": baseline / epoch,
            "page_faults": statistics.median(r["page_faults"] for r in setting_runs),
            "kernel_cpu_seconds": statistics.median(r["kernel_cpu_seconds"] for r in setting_runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in setting_runs),
            "test_accuracy": statistics.median(r["test_accuracy"] for r in setting_runs),
        }
        s = summary[setting]
        print(f"| {setting} | {epoch:.2f} s | {s['speedup']:.2f}x | {s['page_faults']:,.0f} | "
              f"{s['kernel_cpu_seconds']:.1f} s | {s['cpu_seconds']:.1f} s | {s['test_accuracy']:.4f} |")
    write_results(args.output, {"epochs": args.epochs, "rounds": args.rounds, "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
