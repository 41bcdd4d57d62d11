"""The reference notebook's script, as written there, on the aclImdb archive.

    python benchmarks/stock_reference.py [EPOCHS [SEED [DATA_CONFIG_JSON]]]

Only the data loading differs from the notebook (keras.datasets.imdb needs a
download): the same padded arrays come from imdb_sweep.data, with the job's data
config. benchmarks/speed.py passes that config as JSON, so that this process
imports no more of our stack than imdb_sweep.data; run alone, it composes the
config itself (benchmarks/baseline.py). Prints one JSON line with per-epoch
times and the test accuracy for benchmarks/speed.py.
"""

import json
import sys
import time

PROCESS_STARTED = time.time()

import keras  # noqa: E402
from keras import layers  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from imdb_sweep.data import load_imdb  # noqa: E402

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 42  # the notebook sets none; fixed for comparisons
if len(sys.argv) > 3:
    data_cfg = OmegaConf.create(json.loads(sys.argv[3]))
else:
    from baseline import baseline_config

    data_cfg = baseline_config().data

max_features = data_cfg.num_words  # 10000, as in the notebook
maxlen = data_cfg.maxlen  # 500
data = load_imdb(data_cfg)
x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test

epoch_seconds = []


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        epoch_seconds.append(time.perf_counter() - self.started)


keras.utils.set_random_seed(seed)
model = keras.models.Sequential()
# The notebook's `input_length=maxlen` is gone from Keras 3; the input shape
# comes from the data.
model.add(layers.Embedding(max_features, 32))
model.add(layers.Flatten())
model.add(layers.Dense(32, activation="relu"))
model.add(layers.Dense(1, activation="sigmoid"))
model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.2,
                    callbacks=[EpochTimer()], verbose=2)
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print("BENCHMARK " + json.dumps({
    "epoch_seconds": epoch_seconds,
    "test_accuracy": float(test_accuracy),
    "best_val_accuracy": max(history.history["val_accuracy"]),
    "process_started": PROCESS_STARTED,
}), flush=True)
