"""The reference notebook's script, as written there, on the aclImdb archive.

Only the data loading differs from the notebook (keras.datasets.imdb needs a
download): the same padded arrays come from imdb_sweep.data. Prints one JSON
line with per-epoch times and the test accuracy for benchmarks/speed.py.
"""

import json
import os
import sys
import time

PROCESS_STARTED = time.time()

import keras  # noqa: E402
from keras import layers  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from imdb_sweep.data import load_imdb  # noqa: E402

max_features = 10000
maxlen = 500

data_cfg = OmegaConf.create({
    "source": "aclimdb", "path": os.environ["IMDB_SWEEP_ACLIMDB"], "num_words": max_features,
    "maxlen": maxlen, "train_limit": None, "test_limit": None, "subset_seed": 0, "cache_dir": None,
})
data = load_imdb(data_cfg)
x_train, y_train, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 42  # the notebook sets none; fixed for comparisons

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
