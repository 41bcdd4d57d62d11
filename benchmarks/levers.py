"""Before/after of each speed lever on the real data, side by side in one process.

    python benchmarks/levers.py [--rounds 5] [--output benchmarks/results/levers.json]

Builds the baseline model once per lever setting (cumulative, from Keras's
defaults to ours), compiles each with one warm-up epoch, then trains them in
turns, one epoch each per round, so that the machine's noise hits every setting
alike. An epoch is what fit does in a job: 20,000 training reviews in batches
of 32, then validation on the other 5,000. The table gives the median epoch
and its speed-up over Keras's defaults (what the stock script gets: one batch
per call, validation in batches of 32, no XLA on CPU), and each model's test
accuracy after its 1 + rounds epochs.

Process-wide settings cannot differ between models in one process: all rows
run with the job's allocator setting (train.keep_freed_memory, on) and thread
pools. benchmarks/process_settings.py measures those in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KERAS_DEFAULTS = {"steps_per_execution": 1, "evaluation_batch_size": 32, "jit_compile": False,
                  "fuse_steps": False}
LEVERS = {
    "Keras defaults (as the stock script)": KERAS_DEFAULTS,
    "+ steps_per_execution=32": {**KERAS_DEFAULTS, "steps_per_execution": 32},
    "+ validation/evaluation batch 1000": {**KERAS_DEFAULTS, "steps_per_execution": 32,
                                           "evaluation_batch_size": 1000},
    "+ XLA (jit_compile=true)": {**KERAS_DEFAULTS, "steps_per_execution": 32, "evaluation_batch_size": 1000,
                                 "jit_compile": True},
    "+ fused steps (fuse_steps=true; the defaults)": {"steps_per_execution": 32, "evaluation_batch_size": 1000,
                                                     "jit_compile": True, "fuse_steps": True,
                                                     "embedding_gradients": "per_occurrence"},
    "embedding_gradients=summed (changes numbers)": {"steps_per_execution": 32, "evaluation_batch_size": 1000,
                                                     "jit_compile": True, "fuse_steps": True,
                                                     "embedding_gradients": "summed"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "levers.json")
    args = parser.parse_args()
    archive = os.environ.get("IMDB_SWEEP_ACLIMDB") or sys.exit("set IMDB_SWEEP_ACLIMDB")

    from baseline import baseline_config, load_full_data

    from imdb_sweep.fused_steps import FusedStepsSequential
    from imdb_sweep.model import build_compiled_model
    from imdb_sweep.runtime import keep_freed_memory
    from imdb_sweep.train import fit_model

    keep_freed_memory()  # as every job does (train.keep_freed_memory)

    data = load_full_data(archive)

    epoch_runners = {}
    for name, settings in LEVERS.items():
        cfg = baseline_config(verbose=0, **settings)
        model = build_compiled_model(cfg, 10000, 500)
        assert isinstance(model, FusedStepsSequential) == settings["fuse_steps"], name

        def one_epoch(model=model, cfg=cfg, epoch=[0]) -> float:
            # The job's own fit, one epoch at a time (a fused model reshuffles by epoch).
            started = time.perf_counter()
            fit_model(model, cfg, data, initial_epoch=epoch[0], epochs=epoch[0] + 1)
            epoch[0] += 1
            return time.perf_counter() - started

        one_epoch()  # traces and compiles
        epoch_runners[name] = (model, cfg, one_epoch)
        print(f"ready: {name}", flush=True)

    seconds: dict[str, list[float]] = {name: [] for name in LEVERS}
    for round_number in range(1, args.rounds + 1):
        for name, (_, _, one_epoch) in epoch_runners.items():
            seconds[name].append(one_epoch())
        print(f"round {round_number}: " + ", ".join(f"{s[-1]:.2f}" for s in seconds.values()), flush=True)

    reference = statistics.median(seconds[next(iter(LEVERS))])
    print(f"\n| lever (cumulative) | epoch (s, median of {args.rounds}) | speed-up | "
          f"test accuracy after {args.rounds + 1} epochs |")
    print("|---|---|---|---|")
    rows = {}
    for name, (model, cfg, _) in epoch_runners.items():
        median = statistics.median(seconds[name])
        _, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=cfg.train.evaluation_batch_size,
                                     verbose=0)
        rows[name] = {"epoch_seconds": median, "speedup": reference / median, "test_accuracy": float(accuracy),
                      "samples": seconds[name], "settings": LEVERS[name]}
        print(f"| {name} | {median:.2f} | {reference / median:.2f}x | {accuracy:.4f} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rounds": args.rounds, "levers": rows}, indent=2))
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
