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

`embedding_gradients` (train.embedding_gradients) says what RMSprop's
accumulator gets for a word seen several times in a batch (the padding id is
seen hundreds of times). TensorFlow hands the optimizer the embedding's
gradient as one slice per occurrence, and Keras's RMSprop adds the square of
each slice: "per_occurrence", the numbers of the stock script. Keras on JAX and
PyTorch sums the occurrences first and adds the square of the sum: "summed".
Either way the step here is computed with dense per-word sums under XLA
instead of gathers and scatters per occurrence, which is what makes it fast on
a CPU; for RMSprop with its default settings (the reference model's) the
per-occurrence update is written out here for that reason. Other optimizers
get TensorFlow's slices as they are (correct, just slower).
"""

from __future__ import annotations

import numpy as np

from imdb_sweep.runtime import start_tensorflow

start_tensorflow()

import keras  # noqa: E402 - after the quiet TensorFlow start
import tensorflow as tf  # noqa: E402

from imdb_sweep.validation import ALLOWED_EMBEDDING_GRADIENTS as EMBEDDING_GRADIENTS  # noqa: E402


@keras.saving.register_keras_serializable(package="imdb_sweep")
class FusedStepsSequential(keras.Sequential):
    """A Sequential model whose train step takes a group of batches: `((x, count), y)`
    with x of shape (group, batch, ...), y of shape (group, batch, ...); the first
    `count` batches are trained on, one optimizer update each, in order."""

    def __init__(self, *args, embedding_gradients: str = "per_occurrence", **kwargs):
        super().__init__(*args, **kwargs)
        if embedding_gradients not in EMBEDDING_GRADIENTS:
            raise ValueError(f"embedding_gradients must be one of {EMBEDDING_GRADIENTS}, not {embedding_gradients!r}")
        self.embedding_gradients = embedding_gradients

    def get_config(self) -> dict:
        return {**super().get_config(), "embedding_gradients": self.embedding_gradients}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        embedding_gradients = config.pop("embedding_gradients", "per_occurrence")
        model = super().from_config(config, custom_objects=custom_objects)
        model.embedding_gradients = embedding_gradients
        return model

    def train_step(self, data):
        (x_group, batch_count), y_group = data
        if not self.optimizer.built:
            # With all variables: a step may hand apply_gradients only some of them.
            self.optimizer.build(self.trainable_weights)

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
        pairs = list(zip(gradients, self.trainable_weights))
        if self.embedding_gradients == "summed":
            pairs = [(tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g, v) for g, v in pairs]
        elif _is_plain_rmsprop(self.optimizer):
            # Before apply_gradients, which moves the learning-rate schedule on.
            for gradient, variable in pairs:
                if isinstance(gradient, tf.IndexedSlices):
                    _rmsprop_per_occurrence(self.optimizer, gradient, variable)
            pairs = [(g, v) for g, v in pairs if not isinstance(g, tf.IndexedSlices)]
        self.optimizer.apply_gradients(pairs)
        self.compute_metrics(x, y, y_pred)


def _is_plain_rmsprop(optimizer: keras.optimizers.Optimizer) -> bool:
    """RMSprop as Keras's defaults make it (no momentum, not centered, nothing
    clipped, decayed or averaged): the update _rmsprop_per_occurrence writes out."""
    return (type(optimizer) is keras.optimizers.RMSprop and not optimizer.centered and optimizer.momentum == 0
            and not optimizer.weight_decay and optimizer.clipnorm is None and optimizer.clipvalue is None
            and optimizer.global_clipnorm is None and not optimizer.use_ema
            and optimizer.gradient_accumulation_steps is None and optimizer.loss_scale_factor is None)


def _rmsprop_per_occurrence(optimizer: keras.optimizers.RMSprop, gradient: tf.IndexedSlices,
                            variable: keras.Variable) -> None:
    """Keras's RMSprop.update_step for a gradient of one slice per occurrence, as the
    TensorFlow backend computes it (the accumulator adds every slice's square; the
    variable moves by the sum of the per-slice increments), with dense per-row
    sums: the same numbers up to float rounding, without gathers or scatters
    of the accumulator per occurrence."""
    rows = tf.shape(variable)[0]
    values = tf.cast(gradient.values, variable.dtype)
    summed = tf.math.unsorted_segment_sum(values, gradient.indices, rows)
    summed_squares = tf.math.unsorted_segment_sum(tf.square(values), gradient.indices, rows)
    # Keras keeps the accumulators in a list beside the variables; no public accessor.
    velocity = optimizer._velocities[optimizer._get_variable_index(variable)]
    velocity.assign(optimizer.rho * velocity + (1 - optimizer.rho) * summed_squares)
    learning_rate = tf.cast(optimizer.learning_rate, variable.dtype)
    variable.assign_sub(learning_rate * summed / tf.sqrt(velocity + optimizer.epsilon))


def portable_model(model: keras.Model) -> keras.Model:
    """`model` itself, or for a FusedStepsSequential a stock keras.Sequential with
    the same layers and weights: what gets logged, loadable without imdb_sweep."""
    if not isinstance(model, FusedStepsSequential):
        return model
    config = model.get_config()
    config.pop("embedding_gradients")
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
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)
        # No tf.data autotuning: Keras deletes each epoch's iterator when the next
        # epoch starts, and with autotuning on that deletion waited 0.3-1 s in about
        # half the epochs (benchmarks/iterator_teardown.py). prefetch(2) is a fixed
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
