"""What `runtime.deterministic=true` costs in epoch time, measured side by side.

    python benchmarks/determinism_cost.py [--epochs 3] [--rounds 2]

Trains the baseline on the full archive in fresh processes, alternating the
switch off and on, and checks that two deterministic runs give identical
per-epoch numbers.
"""

from __future__ import annotations

import argparse
import statistics

from baseline import require_archive

# Deterministic ops are process-wide and one-way: every run is a fresh process.
from process_settings import run_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    require_archive()
    steady = {False: [], True: []}
    deterministic_runs = []
    for _ in range(args.rounds):
        for switch in (False, True):
            measured = run_once(args.epochs, [f"runtime.deterministic={str(switch).lower()}"])
            steady[switch].append(measured["steady_epoch_seconds"])
            if switch:
                deterministic_runs.append((measured["test_accuracy"], measured["best_val_accuracy"]))
            print(f"deterministic={switch}: {steady[switch][-1]:.2f} s/epoch", flush=True)
    off, on = statistics.median(steady[False]), statistics.median(steady[True])
    print(f"\nsteady epoch: {off:.2f} s off, {on:.2f} s on: deterministic costs {100 * (on / off - 1):+.0f}%")
    print(f"deterministic runs identical: {len(set(deterministic_runs)) == 1} {deterministic_runs}")


if __name__ == "__main__":
    main()
