"""What `train.deterministic=true` costs in epoch time, measured side by side.

    python benchmarks/determinism_cost.py [--epochs 3] [--rounds 2]

Trains the baseline on the full archive in fresh processes, alternating the
switch off and on, and checks that two deterministic runs give identical
per-epoch numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(archive: str, overrides: list[str], epochs: int) -> dict:
    """One fresh benchmarks/train_only.py process (deterministic ops are process-wide)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "train_only.py"), archive, f"train.epochs={epochs}",
         "train.verbose=0", *overrides],
        capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    line = next(l for l in result.stdout.splitlines() if l.startswith("TRAIN_ONLY "))
    return json.loads(line.removeprefix("TRAIN_ONLY "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    archive = os.environ.get("IMDB_SWEEP_ACLIMDB") or sys.exit("set IMDB_SWEEP_ACLIMDB")
    steady = {False: [], True: []}
    deterministic_runs = []
    for _ in range(args.rounds):
        for switch in (False, True):
            measured = measure(archive, [f"train.deterministic={str(switch).lower()}"], args.epochs)
            steady[switch].append(statistics.median(measured["epoch_seconds"][1:]))
            if switch:
                deterministic_runs.append((measured["test_accuracy"], measured["best_val_accuracy"]))
            print(f"deterministic={switch}: {steady[switch][-1]:.2f} s/epoch", flush=True)
    off, on = statistics.median(steady[False]), statistics.median(steady[True])
    print(f"\nsteady epoch: {off:.2f} s off, {on:.2f} s on: deterministic costs {100 * (on / off - 1):+.0f}%")
    print(f"deterministic runs identical: {len(set(deterministic_runs)) == 1} {deterministic_runs}")


if __name__ == "__main__":
    main()
