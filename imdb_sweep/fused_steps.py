"""Fused training steps: many batches per compiled call, for the TensorFlow backend.

Keras's `steps_per_execution` still launches one compiled train step per batch
from a TensorFlow while loop, with an iterator read and a control-flow round
trip in between. For the reference model each step is about a millisecond of
work, so that launch overhead costs about a quarter of the epoch. Here a dataset element
is a group of batches, `(group_size, batch_size, maxlen)`, and the train step
loops over them inside one XLA program.

The training is the same as `model.fit(x, y, batch_size, shuffle=True)`: every
epoch sees the samples in a new seeded order, each batch makes one optimizer
update, and the epoch's loss and metrics average over its batches as Keras's do.
The shuffled order comes from NumPy (seeded by `seed` and the epoch number, so a
resumed run sees the same order as an uninterrupted one), not from Keras.

`dense_gradients` (train.dense_gradients) changes the update of the embedding.
TensorFlow hands the optimizer the embedding's gradient as one slice per word
occurrence, and Keras's RMSprop squares those slices one by one: a word seen
300 times in a batch (the padding id is) adds the sum of 300 squares to its
accumulator. With dense_gradients the occurrences are summed first, so the
accumulator gets the square of the word's total gradient. That is what Keras
does on its JAX and PyTorch backends, and under XLA on a CPU the step is much
faster (no per-occurrence gathers and scatters; figures in the README). false
keeps TensorFlow's per-occurrence update.
"""

from __future__ import annotations

import numpy as np

from imdb_sweep.runtime import start_tensorflow

start_tensorflow()

import keras  # noqa: E402 - after the quiet TensorFlow start
import tensorflow as tf  # noqa: E402


@keras.saving.register_keras_serializable(package="imdb_sweep")
class FusedStepsSequential(keras.Sequential):
    """A Sequential model whose train step takes a group of batches: `((x, count), y)`
    with x of shape (group, batch, ...), y of shape (group, batch, ...); the first
    `count` batches are trained on, one optimizer update each, in order."""

    def __init__(self, *args, dense_gradients: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.dense_gradients = dense_gradients

    def get_config(self) -> dict:
        return {**super().get_config(), "dense_gradients": self.dense_gradients}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        dense_gradients = config.pop("dense_gradients", True)
        model = super().from_config(config, custom_objects=custom_objects)
        model.dense_gradients = dense_gradients
        return model

    def train_step(self, data):
        (x_group, batch_count), y_group = data

        def train_one(index):
            self._train_batch(x_group[index], y_group[index])
            return (index + 1,)

        tf.while_loop(lambda index: index < batch_count, train_one, (tf.constant(0),))
        return self.get_metrics_result()

    def _train_batch(self, x, y) -> None:
        # Keras's own TensorFlow train_step, for one batch.
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        if self.dense_gradients:
            gradients = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        self.compute_metrics(x, y, y_pred)


def portable_model(model: keras.Model) -> keras.Model:
    """`model` itself, or for a FusedStepsSequential a stock keras.Sequential with
    the same layers and weights: what gets logged, loadable without imdb_sweep."""
    if not isinstance(model, FusedStepsSequential):
        return model
    config = model.get_config()
    config.pop("dense_gradients")
    copy = keras.Sequential.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


class BatchGroups:
    """Training data for FusedStepsSequential: every epoch, a new seeded shuffle,
    cut into batches of `batch_size`, `group_size` batches to a dataset element.

    The last group of full batches is padded to `group_size` (its `count` says how
    many are real), so every full batch runs in one compiled program; a final
    partial batch, if any, comes alone as a group of one.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, group_size: int, seed: int):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.full_batches, self.partial_batch_size = divmod(len(x), batch_size)
        self.group_size = max(1, min(group_size, self.full_batches))
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        full_groups = -(-self.full_batches // self.group_size)
        return full_groups + (1 if self.partial_batch_size else 0)

    def dataset(self) -> tf.data.Dataset:
        sample_shape = self.x.shape[1:]
        signature = (
            (tf.TensorSpec((None, None, *sample_shape), tf.as_dtype(self.x.dtype)), tf.TensorSpec((), tf.int32)),
            tf.TensorSpec((None, None, *self.y.shape[1:]), tf.as_dtype(self.y.dtype)),
        )
        dataset = tf.data.Dataset.from_generator(self.groups, output_signature=signature)
        # A known length gives Keras its steps per epoch (and a progress bar with an end).
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.x))

    def groups(self):
        order = self.order(self.epoch)
        size, group = self.batch_size, self.group_size
        for first_batch in range(0, self.full_batches, group):
            count = min(group, self.full_batches - first_batch)
            rows = order[first_batch * size:(first_batch + count) * size]
            yield (self._stack(self.x, rows, count), np.int32(count)), self._stack(self.y, rows, count)
        if self.partial_batch_size:
            rows = order[self.full_batches * size:]
            yield (self.x[rows][np.newaxis], np.int32(1)), self.y[rows][np.newaxis]

    def _stack(self, array: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
        batches = array[rows].reshape(count, self.batch_size, *array.shape[1:])
        if count == self.group_size:
            return batches
        padded = np.zeros((self.group_size, *batches.shape[1:]), dtype=array.dtype)
        padded[:count] = batches
        return padded

    def epoch_callback(self) -> keras.callbacks.Callback:
        """Tells the groups which epoch Keras is in (the shuffle's seed), before it reads them."""
        groups = self

        class SetEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                groups.epoch = epoch

        return SetEpoch()


def validation_split(x: np.ndarray, y: np.ndarray, fraction: float):
    """Keras's `validation_split`: the last `fraction` of the samples, before any shuffle."""
    split_at = int(np.floor(len(x) * (1.0 - fraction)))
    if split_at in (0, len(x)):
        raise ValueError(
            f"train.validation_split = {fraction} leaves no samples on one side of "
            f"the split of {len(x)} training reviews"
        )
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])
