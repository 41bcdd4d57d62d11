"""Where model=rnn's epoch goes on a CPU: time per training batch of the default model
(bidirectional LSTM over 500 masked steps) against one change at a time.

    python benchmarks/investigations/rnn_time.py [--reviews 640] [--rounds 3]

Each variant is built, compiled (RMSprop, binary cross-entropy) and fitted on the same
`--reviews` training reviews, batch 32, for 3 epochs in one `fit` call; its time per
batch is the median over epochs 2..3 (epoch 1 traces and compiles), and the median of
that over `--rounds` rounds that alternate the variants, so machine noise hits all
alike. Both wall time and the process's CPU time (all its threads; what the batch
costs the cores, steadier than wall time on a machine shared with other work). The
last column times a forward pass alone (`predict_on_batch`, batch 32, wall time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for baseline.py
from baseline import baseline_config, load_full_data, start_training_here

EPOCHS = 3
# name -> (model keys changed, jit_compile, steps kept of each review, mask the padding)
VARIANTS: dict[str, tuple[dict[str, Any], bool, int, bool]] = {
    "default (bidirectional LSTM with XLA)": ({}, True, 500, True),
    "XLA off": ({}, False, 500, True),
    "one direction": ({"bidirectional": False}, True, 500, True),
    "GRU": ({"cell": "gru"}, True, 500, True),
    "250 steps (data.maxlen=250)": ({}, True, 250, True),
    "no masking": ({}, True, 500, False),
    "units 64": ({"units": 64}, True, 500, True),
}


def build(model_config: Any, steps: int, masked: bool) -> Any:
    """The rnn family's model (imdb_sweep/models/rnn.py), optionally without its mask."""
    import keras

    from imdb_sweep.models import rnn

    if masked:
        return rnn.build(model_config, num_words=10000, maxlen=steps)
    inputs = keras.Input(shape=(steps,), dtype="int32")
    features = keras.layers.Embedding(10000, model_config.embedding_dim)(inputs)
    recurrent = rnn.CELLS[model_config.cell](model_config.units)
    if model_config.bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent)
    features = keras.layers.Dropout(model_config.dropout)(recurrent(features))
    outputs = keras.layers.Dense(1, activation="sigmoid")(features)
    return keras.Model(inputs, outputs)


def batch_seconds(name: str, cfg: Any, x: Any, y: Any) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds per training batch, wall seconds per forward pass of one
    batch) of VARIANTS[name]."""
    import keras
    from omegaconf import OmegaConf

    changes, jit_compile, steps, masked = VARIANTS[name]
    keras.utils.set_random_seed(cfg.seed)
    model = build(OmegaConf.merge(cfg.model, changes), steps, masked)
    model.compile(optimizer=keras.optimizers.RMSprop(cfg.train.learning_rate), loss=cfg.train.loss,
                  metrics=["accuracy"], jit_compile=jit_compile)
    x = x[:, -steps:]  # padded at the front: the last steps hold the words
    epoch_seconds: list[float] = []
    epoch_cpu_seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epoch_seconds.append(time.perf_counter() - self.started)
            epoch_cpu_seconds.append(time.process_time() - self.cpu_started)

    model.fit(x, y, batch_size=32, epochs=EPOCHS, callbacks=[Timer()], verbose=0)
    batches = len(x) // 32
    model.predict_on_batch(x[:32])
    started = time.perf_counter()
    for start in range(0, batches * 32, 32):
        model.predict_on_batch(x[start:start + 32])
    forward = (time.perf_counter() - started) / batches
    return (statistics.median(epoch_seconds[1:]) / batches, statistics.median(epoch_cpu_seconds[1:]) / batches,
            forward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    arguments = parser.parse_args()
    start_training_here()
    cfg = baseline_config("model=rnn", f"data.train_limit={arguments.reviews}", "data.test_limit=100")
    data = load_full_data(cfg)
    names = arguments.variants.split(",")
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for _ in range(arguments.rounds):
        for name in names:
            samples[name].append(batch_seconds(name, cfg, data.x_train, data.y_train))
    def median(name: str, index: int) -> float:
        return statistics.median(sample[index] for sample in samples[name])

    print(f"{'variant':>38} | train ms/batch (wall) | vs default | CPU ms/batch | vs default | forward ms")
    for name in names:
        print(f"{name:>38} | {1000 * median(name, 0):21.1f} | {median(name, 0) / median(names[0], 0):9.2f}x | "
              f"{1000 * median(name, 1):12.1f} | {median(name, 1) / median(names[0], 1):9.2f}x | "
              f"{1000 * median(name, 2):10.1f}")


if __name__ == "__main__":
    main()
