"""Builds and compiles the reference IMDB model from `cfg.model` and `cfg.train`."""

from __future__ import annotations

from typing import Any

from imdb_sweep.runtime import start_tensorflow

start_tensorflow()

import keras  # noqa: E402 - after the quiet TensorFlow start

OPTIMIZERS = {
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
    "nadam": keras.optimizers.Nadam,
}


def build_model(model_cfg: Any, num_words: int, maxlen: int) -> keras.Model:
    """Embedding -> Flatten -> [Dropout] -> Dense x hidden_layers -> Dense(1, sigmoid)."""
    regularizer = keras.regularizers.L2(model_cfg.l2) if model_cfg.l2 > 0 else None
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=(maxlen,), dtype="int32", name="word_ids"),
        keras.layers.Embedding(num_words, model_cfg.embedding_dim, name="embedding"),
        keras.layers.Flatten(name="flatten"),
    ]
    if model_cfg.dropout > 0:
        layers.append(keras.layers.Dropout(model_cfg.dropout, name="dropout"))
    for layer_number in range(1, model_cfg.hidden_layers + 1):
        layers.append(keras.layers.Dense(
            model_cfg.units, activation=model_cfg.activation,
            kernel_regularizer=regularizer, name=f"hidden_{layer_number}",
        ))
    # float32 output even under mixed precision: a float16 sigmoid saturates.
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="output", dtype="float32"))
    return keras.Sequential(layers, name="imdb_dense")


def resolve_jit_compile(setting: bool | str, model: keras.Model, deterministic: bool = False) -> bool | str:
    """`train.jit_compile`: true/false as given; "auto" lets Keras decide on GPUs and
    with deterministic ops (Keras then turns XLA off) and, on CPUs, uses XLA unless
    the model has Dropout (slow under XLA on CPUs)."""
    if setting != "auto":
        return setting
    if deterministic or start_tensorflow():  # start_tensorflow() lists the GPUs.
        return "auto"
    return not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def compile_model(model: keras.Model, train_cfg: Any) -> keras.Model:
    optimizer = OPTIMIZERS[train_cfg.optimizer](learning_rate=train_cfg.learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=train_cfg.loss,
        # Named explicitly: with loss=mse the string "accuracy" would not
        # necessarily mean binary accuracy.
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
        steps_per_execution=train_cfg.steps_per_execution,
        jit_compile=resolve_jit_compile(train_cfg.jit_compile, model, train_cfg.deterministic),
    )
    return model


def build_compiled_model(cfg: Any, num_words: int, maxlen: int) -> keras.Model:
    # Process-wide in Keras; set every time so one job's choice never leaks into the next.
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.train.mixed_precision else "float32")
    return compile_model(build_model(cfg.model, num_words, maxlen), cfg.train)
