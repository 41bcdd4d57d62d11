"""Before/after of each speed lever on the real data, same machine, alternating.

    python benchmarks/levers.py [--epochs 3] [--rounds 2]

Each configuration trains the baseline in a fresh process
(benchmarks/train_only.py); the table gives the median steady epoch time
(epochs 2..n) and its speed-up over Keras's defaults (what the stock script
gets: one batch per call, validation in batches of 32, no XLA on CPU).
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

UNFUSED = ["train.fuse_steps=false"]
LEVERS = {
    "Keras defaults (as the stock script)": ["train.steps_per_execution=1", "train.evaluation_batch_size=32",
                                             "train.jit_compile=false", *UNFUSED],
    "+ steps_per_execution=32": ["train.steps_per_execution=32", "train.evaluation_batch_size=32",
                                 "train.jit_compile=false", *UNFUSED],
    "+ validation/evaluation batch 1000": ["train.steps_per_execution=32", "train.evaluation_batch_size=1000",
                                           "train.jit_compile=false", *UNFUSED],
    "+ XLA (jit_compile=true)": ["train.steps_per_execution=32", "train.evaluation_batch_size=1000",
                                 "train.jit_compile=true", *UNFUSED],
    "+ fused steps (fuse_steps=true)": ["train.steps_per_execution=32", "train.evaluation_batch_size=1000",
                                        "train.jit_compile=true", "train.fuse_steps=true",
                                        "train.dense_gradients=false"],
    "+ dense embedding gradients (the defaults)": ["train.steps_per_execution=32",
                                                    "train.evaluation_batch_size=1000", "train.jit_compile=true",
                                                    "train.fuse_steps=true", "train.dense_gradients=true"],
}


def measure(archive: str, overrides: list[str], epochs: int) -> dict:
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
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "levers.json")
    args = parser.parse_args()
    archive = os.environ.get("IMDB_SWEEP_ACLIMDB") or sys.exit("set IMDB_SWEEP_ACLIMDB")

    steady: dict[str, list[float]] = {name: [] for name in LEVERS}
    accuracy: dict[str, list[float]] = {name: [] for name in LEVERS}
    for _ in range(args.rounds):
        for name, overrides in LEVERS.items():
            measured = measure(archive, overrides, args.epochs)
            steady[name].append(statistics.median(measured["epoch_seconds"][1:]))
            accuracy[name].append(measured["test_accuracy"])
            print(f"{name}: {steady[name][-1]:.2f} s/epoch", flush=True)

    reference = statistics.median(steady[next(iter(LEVERS))])
    print(f"\n| lever (cumulative) | steady epoch (s) | speed-up | test accuracy after {args.epochs} epochs |")
    print("|---|---|---|---|")
    rows = {}
    for name in LEVERS:
        seconds = statistics.median(steady[name])
        rows[name] = {"steady_epoch_seconds": seconds, "speedup": reference / seconds,
                      "test_accuracy": statistics.mean(accuracy[name]), "samples": steady[name]}
        print(f"| {name} | {seconds:.2f} | {reference / seconds:.2f}x | {statistics.mean(accuracy[name]):.4f} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"epochs": args.epochs, "levers": rows}, indent=2))


if __name__ == "__main__":
    main()
