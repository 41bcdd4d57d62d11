"""What deleting an epoch's dataset iterator costs, with tf.data autotuning on and off.

    python benchmarks/iterator_teardown.py [--rounds 8] [--output benchmarks/results/iterator_teardown.json]

Keras's fit makes a new iterator over the training dataset every epoch and
drops the previous one as it does. This script trains the baseline model (the
job's fused steps, on the real archive) with the job's own BatchGroups
dataset, once as the job builds it (autotuning off) and once with tf.data's
autotuning switched back on. The two models train in turns, one epoch each per
round, so that the machine's noise hits both alike. An epoch is what fit does:
a new iterator, the previous one deleted, every group of batches, then
validation on the other 5,000 reviews. It reports, per setting, the time the
deletion took (median and total), the epoch time without it and with it, and
writes the samples as JSON.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--output", type=Path, default=results_file("iterator_teardown"))
    args = parser.parse_args()

    start_training_here()
    import tensorflow as tf

    from imdb_sweep.training.fused.batches import BatchGroups, validation_split
    from imdb_sweep.training.model import build_compiled_model

    cfg = baseline_config()
    data = load_full_data(cfg)
    (x_fit, y_fit), (x_val, y_val) = validation_split(data.x_train, data.y_train, cfg.train.validation_split)

    class Runner:
        def __init__(self, autotune: bool):
            self.model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
            self.model.make_train_function()
            self.groups = BatchGroups(x_fit, y_fit, cfg.train.batch_size, cfg.runtime.steps_per_execution, cfg.seed)
            self.dataset = self.groups.dataset()
            if autotune:
                options = tf.data.Options()
                options.autotune.enabled = True  # back to tf.data's default
                self.dataset = self.dataset.with_options(options)
            assert self.dataset.options().autotune.enabled is autotune
            self.iterator = None

        def epoch(self) -> tuple[float, float]:
            """One epoch as fit runs it: (seconds deleting the previous iterator, whole epoch)."""
            started = time.perf_counter()
            new_iterator = iter(self.dataset)
            deleting = time.perf_counter()
            self.iterator = new_iterator  # drops the previous epoch's iterator, as Keras does
            deleted = time.perf_counter()
            for _ in range(len(self.groups)):
                self.model.train_function(self.iterator)
            self.model.evaluate(x_val, y_val, batch_size=cfg.runtime.evaluation_batch_size, verbose=0)
            self.groups.epoch += 1
            return deleted - deleting, time.perf_counter() - started

    runners = {"autotuning on (tf.data default)": Runner(True), "autotuning off (the job's dataset)": Runner(False)}
    for runner in runners.values():
        runner.epoch()  # traces and compiles
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for round_number in range(1, args.rounds + 1):
        for name, runner in runners.items():
            samples[name].append(runner.epoch())
        print(f"round {round_number}: " + ", ".join(
            f"{name.split(' (')[0]} delete {s[-1][0]:.3f} s epoch {s[-1][1]:.2f} s" for name, s in samples.items()),
            flush=True)

    print(f"\n| setting | iterator deletion: median / total over {args.rounds} epochs | "
          "epoch without it (median) | epoch (median) |")
    print("|---|---|---|---|")
    rows = {}
    for name, pairs in samples.items():
        deletions = [d for d, _ in pairs]
        epochs = [e for _, e in pairs]
        rows[name] = {
            "delete_seconds": deletions, "epoch_seconds": epochs,
            "median_delete_seconds": statistics.median(deletions), "total_delete_seconds": sum(deletions),
            "median_epoch_seconds": statistics.median(epochs),
            "median_epoch_without_delete_seconds": statistics.median(e - d for d, e in pairs),
        }
        row = rows[name]
        print(f"| {name} | {row['median_delete_seconds']:.3f} / {row['total_delete_seconds']:.2f} s | "
              f"{row['median_epoch_without_delete_seconds']:.2f} s | {row['median_epoch_seconds']:.2f} s |")
    write_results(args.output, {"rounds": args.rounds, "settings": rows})


if __name__ == "__main__":
    main()
