"""RMSprop's update of the embedding, computed with dense per-word sums.

TensorFlow hands the optimizer the embedding's gradient as one slice per
occurrence of a word in the batch (the padding id is seen hundreds of times),
and Keras's RMSprop adds the square of each slice: "per_occurrence", the
numbers of the stock script. Keras on JAX and PyTorch sums the occurrences
first and adds the square of the sum: "summed". Either way the fused step
computes the update with dense per-word sums under XLA instead of gathers and
scatters per occurrence, which is what makes it fast on a CPU. For RMSprop
with its default settings (the reference model's) the per-occurrence update is
written out here; other optimizers get TensorFlow's slices as they are
(correct, just slower).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from imdb_sweep.training.fused import keras_internals


def is_plain_rmsprop(optimizer: keras.optimizers.Optimizer) -> bool:
    """RMSprop as Keras's defaults make it (no momentum, not centered, nothing
    clipped, decayed or averaged): the update _rmsprop_per_occurrence writes out."""
    return (type(optimizer) is keras.optimizers.RMSprop and not optimizer.centered and optimizer.momentum == 0
            and not optimizer.weight_decay and optimizer.clipnorm is None and optimizer.clipvalue is None
            and optimizer.global_clipnorm is None and not optimizer.use_ema
            and optimizer.gradient_accumulation_steps is None and optimizer.loss_scale_factor is None)


def rmsprop_per_occurrence(optimizer: keras.optimizers.RMSprop, gradient: tf.IndexedSlices,
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
    velocity = keras_internals.rmsprop_velocity(optimizer, variable)
    velocity.assign(optimizer.rho * velocity + (1 - optimizer.rho) * summed_squares)
    learning_rate = tf.cast(optimizer.learning_rate, variable.dtype)
    variable.assign_sub(learning_rate * summed / tf.sqrt(velocity + optimizer.epsilon))
