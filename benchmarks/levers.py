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
run with the job's allocator setting (runtime.keep_freed_memory, on) and thread
pools. benchmarks/process_settings.py measures those in fresh processes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from baseline import (
    baseline_config,
    load_full_data,
    results_file,
    start_training_here,
    write_results,
)

KERAS_DEFAULTS = {"steps_per_execution": 1, "evaluation_batch_size": 32, "jit_compile": False,
                  "fuse_steps": False}
FAST = {"steps_per_execution": 32, "evaluation_batch_size": 1000, "jit_compile": True, "fuse_steps": True}
LEVERS = {  # cumulative, from Keras's defaults to ours: settings of conf/runtime (and train.embedding_gradients)
    "Keras defaults (as the stock script)": KERAS_DEFAULTS,
    "+ steps_per_execution=32": {**KERAS_DEFAULTS, "steps_per_execution": 32},
    "+ validation/evaluation batch 1000": {**KERAS_DEFAULTS, "steps_per_execution": 32,
                                           "evaluation_batch_size": 1000},
    "+ XLA (jit_compile=true)": {**FAST, "fuse_steps": False},
    "+ fused steps (fuse_steps=true; the defaults)": {**FAST, "embedding_gradients": "per_occurrence"},
    "embedding_gradients=summed (changes numbers)": {**FAST, "embedding_gradients": "summed"},
}


def lever_overrides(settings: dict) -> list[str]:
    # embedding_gradients changes the numbers (train); the others are runtime's speed switches.
    return [f"{'train' if key == 'embedding_gradients' else 'runtime'}.{key}="
            f"{str(value).lower() if isinstance(value, bool) else value}" for key, value in settings.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=results_file("levers"))
    args = parser.parse_args()

    start_training_here()
    from imdb_sweep.training.fit import fit_model
    from imdb_sweep.training.fused.model import FusedStepsSequential
    from imdb_sweep.training.model import build_compiled_model

    data = load_full_data(baseline_config())

    epoch_runners = {}
    for name, settings in LEVERS.items():
        cfg = baseline_config("runtime.verbose=0", *lever_overrides(settings))
        model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
        assert isinstance(model, FusedStepsSequential) == cfg.runtime.fuse_steps, name

        epoch = [0]  # this model's next epoch, counted by one_epoch

        def one_epoch(model=model, cfg=cfg, epoch=epoch) -> float:
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
        _, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=cfg.runtime.evaluation_batch_size,
                                     verbose=0)
        rows[name] = {"epoch_seconds": median, "speedup": reference / median, "test_accuracy": float(accuracy),
                      "samples": seconds[name], "settings": LEVERS[name]}
        print(f"| {name} | {median:.2f} | {reference / median:.2f}x | {accuracy:.4f} |")
    write_results(args.output, {"rounds": args.rounds, "levers": rows})


if __name__ == "__main__":
    main()
