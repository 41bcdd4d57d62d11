"""A job's training alone, without MLflow or Hydra's launcher, in a process of its own.

    python benchmarks/train_only.py [key=value ...]     # e.g. train.epochs=3 runtime.verbose=0

Composes the config as a job does (benchmarks/baseline.py, the overrides on
top), loads the archive with imdb_sweep.data and trains with
imdb_sweep.training.fit.train, so the model, the fit loop, the process-wide
training settings and the speed knobs are the ones a job uses. Prints one line,
`TRAIN_ONLY {json}`: the data load time, every epoch's time and the accuracies.
benchmarks/process_settings.py and determinism_cost.py run it as their fresh
process, one per setting and round.

The training code imports TensorFlow (the fused loop is TensorFlow's), so this
runs only where TensorFlow is installed, not on a Keras-on-JAX-only machine.
"""

from __future__ import annotations

import json
import sys
import time

from baseline import baseline_config, load_full_data


def main() -> None:
    overrides = sys.argv[1:]
    cfg = baseline_config(*overrides)

    from imdb_sweep.process.quiet_tensorflow import start_tensorflow

    start_tensorflow()  # as a job does: quiet, Keras's unused extras not imported
    import keras

    from imdb_sweep.training.fit import train

    started = time.perf_counter()
    data = load_full_data(cfg)
    data_seconds = time.perf_counter() - started
    result = train(cfg, data)
    print("TRAIN_ONLY " + json.dumps({
        "backend": keras.backend.backend(),
        "overrides": overrides,
        "data_seconds": data_seconds,
        "epoch_seconds": result.epoch_seconds,
        "train_seconds": result.train_seconds,
        "test_accuracy": result.test_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "best_epoch": result.best_epoch,
    }), flush=True)


if __name__ == "__main__":
    main()
