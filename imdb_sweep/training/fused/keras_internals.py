"""Every private Keras attribute the fused training loop uses, fenced here.

Keras offers no public accessor for these; a Keras upgrade may rename them.
`check_keras_internals()` touches each one on a real model and optimizer, and
tests/test_fused_steps.py calls it, so such an upgrade fails one test that
names the attribute instead of failing somewhere inside an XLA trace.
"""

from __future__ import annotations

from typing import Any

import keras

# The names this module reads, for the error message of a failed check.
PRIVATE_ATTRIBUTES = ("Model._loss_tracker", "RMSprop._velocities", "Optimizer._get_variable_index",
                      "Trainer._jit_compile")


def loss_tracker(model: keras.Model) -> Any:
    """The Mean metric behind the `loss` a Keras train step reports."""
    return model._loss_tracker


def rmsprop_velocity(optimizer: keras.optimizers.RMSprop, variable: keras.Variable) -> keras.Variable:
    """RMSprop's accumulator of squared gradients for `variable` (Keras keeps
    them in a list beside the variables)."""
    return optimizer._velocities[optimizer._get_variable_index(variable)]


def set_jit_compile(model: keras.Model, value: bool) -> None:
    """Set what `model.jit_compile` reads, past the setter's checks (Keras refuses
    XLA under op determinism; FusedStepsSequential.jit_compile says why it may)."""
    model._jit_compile = value


def check_keras_internals() -> None:
    """Raise RuntimeError naming the attribute when this Keras lacks one we use."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="mse")
    model.optimizer.build(model.trainable_weights)
    try:
        tracker = loss_tracker(model)
        velocity = rmsprop_velocity(model.optimizer, model.trainable_weights[0])
        jit_compile_before = model.jit_compile
        set_jit_compile(model, not jit_compile_before)
        jit_compile_set = model.jit_compile == (not jit_compile_before)
    except (AttributeError, IndexError, KeyError, TypeError) as error:
        raise RuntimeError(
            f"Keras {keras.__version__} changed a private attribute the fused training loop "
            f"uses ({', '.join(PRIVATE_ATTRIBUTES)}): {type(error).__name__}: {error}. "
            "Update imdb_sweep/training/fused/keras_internals.py, or set train.fuse_steps=false."
        ) from error
    if (not hasattr(tracker, "update_state") or tuple(velocity.shape) != tuple(model.trainable_weights[0].shape)
            or not jit_compile_set):
        raise RuntimeError(
            f"Keras {keras.__version__}: the loss tracker, RMSprop's velocities or the model's jit_compile "
            "no longer behave as the fused training loop expects (imdb_sweep/training/fused/keras_internals.py)."
        )
