"""Training data for FusedStepsSequential: groups of batches, shuffled per epoch.

The shuffled order comes from NumPy (seeded by `seed` and the epoch number, so
a resumed run sees the same order as an uninterrupted one), not from Keras.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


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
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)
        # No tf.data autotuning: Keras deletes each epoch's iterator when the next
        # epoch starts, and with autotuning on that deletion often waits out the
        # autotuning thread (benchmarks/iterator_teardown.py). prefetch(2) is a fixed
        # buffer, so there is nothing to tune.
        options = tf.data.Options()
        options.autotune.enabled = False
        return dataset.with_options(options)

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
