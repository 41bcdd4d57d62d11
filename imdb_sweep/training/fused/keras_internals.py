"""Every private Keras attribute the fused training loop uses, fenced here.

Keras offers no public accessor for these; a Keras upgrade may rename them.
`check_keras_internals()` touches each one on a real model and real optimizers,
and tests/unit/training/fused/test_fused_steps.py calls it, so such an upgrade fails one test that
names the attribute instead of failing somewhere inside an XLA trace.
"""

from __future__ import annotations

from typing import Any

import keras

# The per-variable state lists the dense embedding updates read (optimizers.py),
# and the settings under which Keras creates all of them.
OPTIMIZER_SLOTS: dict[type, tuple[dict, tuple[str, ...]]] = {
    keras.optimizers.RMSprop: (
        {"momentum": 0.9, "centered": True}, ("_velocities", "_momentums", "_average_gradients")),
    keras.optimizers.Adam: ({}, ("_momentums", "_velocities")),
    keras.optimizers.Nadam: ({}, ("_momentums", "_velocities")),
    keras.optimizers.Adagrad: ({}, ("_accumulators",)),
    keras.optimizers.SGD: ({"momentum": 0.9}, ("momentums",)),  # no underscore, but undocumented
}

# The names this module reads, for the error message of a failed check.
PRIVATE_ATTRIBUTES = ("Model._loss_tracker", "Optimizer._get_variable_index", "Nadam._u_product",
                      "Trainer._jit_compile", "Trainer._symbolic_build",
                      *(f"{optimizer_class.__name__}.{name}"
                        for optimizer_class, (_, names) in OPTIMIZER_SLOTS.items() for name in names))


def loss_tracker(model: keras.Model) -> Any:
    """The Mean metric behind the `loss` a Keras train step reports."""
    return model._loss_tracker


def optimizer_slot(optimizer: keras.optimizers.Optimizer, name: str, variable: keras.Variable) -> keras.Variable:
    """The optimizer's state `name` (one of OPTIMIZER_SLOTS) for `variable`: Keras
    keeps one list per kind of state beside the variables."""
    if name not in OPTIMIZER_SLOTS.get(type(optimizer), ({}, ()))[1]:
        raise ValueError(f"{type(optimizer).__name__}.{name} is not in keras_internals.OPTIMIZER_SLOTS")
    return getattr(optimizer, name)[optimizer._get_variable_index(variable)]


def nadam_u_product(optimizer: keras.optimizers.Nadam) -> keras.Variable:
    """Nadam's running product of its momentum schedule, as of the last applied step."""
    return optimizer._u_product


def set_jit_compile(model: keras.Model, value: bool) -> None:
    """Set what `model.jit_compile` reads, past the setter's checks (Keras refuses
    XLA under op determinism; FusedStepsSequential.jit_compile says why it may)."""
    model._jit_compile = value


def build_state(model: keras.Model, x: keras.KerasTensor, y: keras.KerasTensor) -> None:
    """Create the optimizer's, the metrics' and the loss's variables now, from
    batch shapes, as Keras does on JAX and under a distribution strategy. Without
    one, Keras on TensorFlow creates them inside the train function's first trace,
    and TensorFlow traces a function that creates variables twice."""
    model._symbolic_build(data_batch=(x, y))


def check_keras_internals() -> None:
    """Raise RuntimeError naming the attribute when this Keras lacks one we use."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="mse")
    kernel = model.trainable_weights[0]
    try:
        build_state(model, keras.KerasTensor((None, 2)), keras.KerasTensor((None, 1)))
        state_built = model.optimizer.built
        tracker = loss_tracker(model)
        jit_compile_before = model.jit_compile
        set_jit_compile(model, not jit_compile_before)
        jit_compile_set = model.jit_compile == (not jit_compile_before)
        slots = []
        for optimizer_class, (settings, names) in OPTIMIZER_SLOTS.items():
            optimizer = optimizer_class(**settings)
            optimizer.build(model.trainable_weights)
            slots += [(f"{optimizer_class.__name__}.{name}", optimizer_slot(optimizer, name, kernel))
                      for name in names]
            if optimizer_class is keras.optimizers.Nadam:
                slots.append(("Nadam._u_product", nadam_u_product(optimizer)))
    except (AttributeError, IndexError, KeyError, TypeError) as error:
        raise RuntimeError(
            f"Keras {keras.__version__} changed a private attribute the fused training loop "
            f"uses ({', '.join(PRIVATE_ATTRIBUTES)}): {type(error).__name__}: {error}. "
            "Update imdb_sweep/training/fused/keras_internals.py, or set runtime.fuse_steps=false."
        ) from error
    expected_shapes = {"Nadam._u_product": ()}
    misshapen = [name for name, slot in slots
                 if tuple(slot.shape) != expected_shapes.get(name, tuple(kernel.shape))]
    if not hasattr(tracker, "update_state") or misshapen or not jit_compile_set or not state_built:
        raise RuntimeError(
            f"Keras {keras.__version__}: the loss tracker, the optimizer state {misshapen}, the model's "
            "jit_compile or its state building no longer behave as the fused training loop expects "
            "(imdb_sweep/training/fused/keras_internals.py)."
        )
