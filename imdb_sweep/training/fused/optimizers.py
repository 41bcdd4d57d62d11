"""Every optimizer's update of the embedding, computed with dense per-word sums.

TensorFlow hands the optimizer the embedding's gradient as one slice per
occurrence of a word in the batch (the padding id is seen hundreds of times).
Keras 3's optimizers on the TensorFlow backend push those slices through its
sparse-aware ops, and for every optimizer the config offers the outcome comes
to one rule: where an update is linear in the gradient (a momentum, an average
gradient, the step itself) a word gets the sum of its slices; where it squares
the gradient (the velocity of RMSprop, Adam and Nadam, Adagrad's accumulator)
it gets the sum of its slices' squares, not the square of the sum. That is
`per_occurrence`, the numbers of the stock script. Keras on JAX and PyTorch
squares the sum instead: `summed` (train.embedding_gradients; the fused model
then hands the optimizer a dense gradient and this module is not used).

Where Keras turns the slices into a dense tensor (adding them to a momentum or
velocity), the state of words not in the batch decays as for a zero gradient;
where it keeps them as slices (Adagrad, SGD without momentum, RMSprop's step)
those words do not move, as a zero gradient would leave them. Either way the
update equals the dense one below, fed the two per-word sums. TensorFlow's own
path gets there with gathers and scatters per occurrence or by densifying the
slices once per use, which is slower under XLA on a CPU; here the two sums are
taken once (`WordGradients`) and each update is written out with dense
tensors: the same numbers up to float rounding (tests/unit/training/fused/test_fused_steps.py
compares each with stock Keras, weight for weight).

Centered RMSprop is where the per-occurrence rule breaks: its variance estimate
(velocity minus the squared average gradient) mixes the two sums, and goes
negative, and the step NaN, for a word whose slices agree and that is seen
more than about 1 / (1 - rho^step) times in a batch. Stock Keras gets there
too, and its sparse division then gathers out of range (an error eagerly,
undefined values under XLA). We keep the one rule for it anyway: the stock
numbers wherever they are defined. Centered RMSprop is no config choice;
built in code, train it with embedding_gradients=summed.

Settings these functions leave out (clipping, weight decay, moving averages,
gradient accumulation, loss scaling, AMSGrad, a constrained embedding) go
through Keras's generic path: `dense_embedding_update` says False.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import tensorflow as tf

from imdb_sweep.training.fused.keras_internals import nadam_u_product, optimizer_slot


class WordGradients(NamedTuple):
    """The embedding's gradient per word (row): what Keras's updates reduce the slices to."""
    summed: tf.Tensor  # the sum of the word's slices: for updates linear in the gradient
    summed_squares: tf.Tensor  # the sum of the slices' squares: for the squared gradient


def word_gradients(gradient: tf.IndexedSlices, variable: keras.Variable) -> WordGradients:
    rows = tf.shape(variable)[0]
    values = tf.cast(gradient.values, variable.dtype)
    return WordGradients(tf.math.unsorted_segment_sum(values, gradient.indices, rows),
                         tf.math.unsorted_segment_sum(tf.square(values), gradient.indices, rows))


def _learning_rate(optimizer: keras.optimizers.Optimizer, variable: keras.Variable) -> tf.Tensor:
    # Read before apply_gradients moves the iterations (and a schedule) on, as Keras reads it.
    return tf.cast(optimizer.learning_rate, variable.dtype)


def _step(optimizer: keras.optimizers.Optimizer, variable: keras.Variable, ahead: int = 1) -> tf.Tensor:
    """Keras's `iterations + ahead` for the update being applied (Adam's bias correction counts from 1)."""
    return tf.cast(optimizer.iterations + ahead, variable.dtype)


def rmsprop_update(optimizer: keras.optimizers.RMSprop, gradient: WordGradients, variable: keras.Variable) -> None:
    """RMSprop.update_step, with or without momentum, centered or not."""
    rho = optimizer.rho
    velocity = optimizer_slot(optimizer, "_velocities", variable)
    velocity.assign(rho * velocity + (1 - rho) * gradient.summed_squares)
    if optimizer.centered:
        average_gradient = optimizer_slot(optimizer, "_average_gradients", variable)
        average_gradient.assign(rho * average_gradient + (1 - rho) * gradient.summed)
        denominator = velocity - tf.square(average_gradient) + optimizer.epsilon
    else:
        denominator = velocity + optimizer.epsilon
    increment = _learning_rate(optimizer, variable) * gradient.summed / tf.sqrt(denominator)
    if optimizer.momentum > 0:
        momentum = optimizer_slot(optimizer, "_momentums", variable)
        momentum.assign(optimizer.momentum * momentum + increment)
        variable.assign_sub(momentum)
    else:
        variable.assign_sub(increment)


def adam_update(optimizer: keras.optimizers.Adam, gradient: WordGradients, variable: keras.Variable) -> None:
    """Adam.update_step without AMSGrad."""
    step = _step(optimizer, variable)
    beta_1, beta_2 = tf.cast(optimizer.beta_1, variable.dtype), tf.cast(optimizer.beta_2, variable.dtype)
    alpha = _learning_rate(optimizer, variable) * tf.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    momentum = optimizer_slot(optimizer, "_momentums", variable)
    velocity = optimizer_slot(optimizer, "_velocities", variable)
    momentum.assign_add((gradient.summed - momentum) * (1 - optimizer.beta_1))
    velocity.assign_add((gradient.summed_squares - velocity) * (1 - optimizer.beta_2))
    variable.assign_sub(momentum * alpha / (tf.sqrt(velocity) + optimizer.epsilon))


def nadam_update(optimizer: keras.optimizers.Nadam, gradient: WordGradients, variable: keras.Variable) -> None:
    """Nadam.update_step."""
    step, next_step = _step(optimizer, variable), _step(optimizer, variable, ahead=2)
    beta_1, beta_2 = tf.cast(optimizer.beta_1, variable.dtype), tf.cast(optimizer.beta_2, variable.dtype)
    decay = tf.cast(0.96, variable.dtype)
    u_t = beta_1 * (1.0 - 0.5 * decay**step)
    u_t_1 = beta_1 * (1.0 - 0.5 * decay**next_step)
    # apply_gradients multiplies the product by u_t before its update steps; this runs before it.
    u_product_t = tf.cast(nadam_u_product(optimizer), variable.dtype) * u_t
    u_product_t_1 = u_product_t * u_t_1
    momentum = optimizer_slot(optimizer, "_momentums", variable)
    velocity = optimizer_slot(optimizer, "_velocities", variable)
    momentum.assign_add((gradient.summed - momentum) * (1 - beta_1))
    velocity.assign_add((gradient.summed_squares - velocity) * (1 - beta_2))
    momentum_hat = u_t_1 * momentum / (1 - u_product_t_1) + (1 - u_t) * gradient.summed / (1 - u_product_t)
    velocity_hat = velocity / (1 - beta_2**step)
    variable.assign_sub(momentum_hat * _learning_rate(optimizer, variable)
                        / (tf.sqrt(velocity_hat) + optimizer.epsilon))


def adagrad_update(optimizer: keras.optimizers.Adagrad, gradient: WordGradients, variable: keras.Variable) -> None:
    """Adagrad.update_step."""
    accumulator = optimizer_slot(optimizer, "_accumulators", variable)
    accumulator.assign_add(gradient.summed_squares)
    variable.assign_sub(_learning_rate(optimizer, variable) * gradient.summed
                        / tf.sqrt(accumulator + optimizer.epsilon))


def sgd_update(optimizer: keras.optimizers.SGD, gradient: WordGradients, variable: keras.Variable) -> None:
    """SGD.update_step, with or without (Nesterov) momentum."""
    step = gradient.summed * _learning_rate(optimizer, variable)
    if optimizer.momentum == 0:
        variable.assign_sub(step)
        return
    momentum_factor = tf.cast(optimizer.momentum, variable.dtype)
    momentum = optimizer_slot(optimizer, "momentums", variable)
    momentum.assign(momentum * momentum_factor - step)
    variable.assign_add(momentum * momentum_factor - step if optimizer.nesterov else momentum)


DENSE_UPDATES: dict[type, Callable[[keras.optimizers.Optimizer, WordGradients, keras.Variable], None]] = {
    keras.optimizers.RMSprop: rmsprop_update,
    keras.optimizers.Adam: adam_update,
    keras.optimizers.Nadam: nadam_update,
    keras.optimizers.Adagrad: adagrad_update,
    keras.optimizers.SGD: sgd_update,
}


def has_dense_embedding_update(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether DENSE_UPDATES writes out this optimizer's whole update: its exact class
    (not a subclass or a LossScaleOptimizer wrapper), with none of the base
    optimizer's extras, which Keras applies around update_step."""
    return (type(optimizer) in DENSE_UPDATES and not getattr(optimizer, "amsgrad", False)
            and not optimizer.weight_decay and optimizer.clipnorm is None and optimizer.clipvalue is None
            and optimizer.global_clipnorm is None and not optimizer.use_ema
            and optimizer.gradient_accumulation_steps is None and optimizer.loss_scale_factor is None)


def dense_embedding_update(optimizer: keras.optimizers.Optimizer, gradient, variable: keras.Variable) -> bool:
    """Apply `optimizer`'s update of `variable` for a per-occurrence `gradient`
    (tf.IndexedSlices) with dense per-word sums, and say True; say False, and
    change nothing, where Keras's generic path must do it (a dense gradient, an
    optimizer or setting not written out here, a constrained variable). Call it
    before apply_gradients, which moves the iterations on, and leave the
    variable out of that call when it says True."""
    if (not isinstance(gradient, tf.IndexedSlices) or not has_dense_embedding_update(optimizer)
            or variable.constraint is not None):
        return False
    DENSE_UPDATES[type(optimizer)](optimizer, word_gradients(gradient, variable), variable)
    return True
