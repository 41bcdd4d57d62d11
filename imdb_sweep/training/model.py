"""Builds and compiles the model of `cfg.model` (the reference dense model here, the
other families in imdb_sweep/models/) with `cfg.train` and `cfg.runtime`."""

from __future__ import annotations

from typing import Any

import keras

from imdb_sweep import contract
from imdb_sweep import models as families
from imdb_sweep.process.quiet_tensorflow import start_tensorflow
from imdb_sweep.training.fused.model import FusedStepsSequential

OPTIMIZERS = {
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
    "nadam": keras.optimizers.Nadam,
}


def build_model(model_cfg: Any, num_words: int, maxlen: int, fused_steps: bool = False,
                embedding_gradients: str = "per_occurrence", dropout_masks: str = "hashed",
                seed: int = 0) -> keras.Model:
    """Embedding -> Flatten -> [Dropout] -> Dense x hidden_layers -> Dense(1, sigmoid).

    With `fused_steps`, a FusedStepsSequential: the same layers, trained on
    groups of batches, with `embedding_gradients` and `dropout_masks` (the hashed
    ones drawn from `seed`; imdb_sweep/training/fused/)."""
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
    if fused_steps:
        return FusedStepsSequential(layers, name="imdb_dense", embedding_gradients=embedding_gradients,
                                    dropout_masks=dropout_masks, dropout_seed=seed)
    return keras.Sequential(layers, name="imdb_dense")


def fused_loop_possible(cfg: Any) -> bool:
    """`runtime.fuse_steps` on TensorFlow, the backend the fused loop is written for, for
    the dense family, the model it is written for."""
    return (bool(cfg.runtime.fuse_steps) and keras.backend.backend() == "tensorflow"
            and families.family_of(cfg.model) == "dense")


def resolve_jit_compile(cfg: Any) -> bool | str:
    """`runtime.jit_compile`: true/false as given. "auto": on GPUs Keras decides; on
    CPUs XLA, except for Keras's Dropout masks (Keras's own loop, or
    train.dropout_masks=keras), whose random kernels are slow under XLA on CPUs,
    and except for deterministic ops outside the fused loop, where Keras decides
    (and turns XLA off). The other families: on CPUs as measured for each
    (models.XLA_ON_CPU); with deterministic ops, or a custom model, Keras decides."""
    setting = cfg.runtime.jit_compile
    if setting != "auto":
        return setting
    if start_tensorflow():  # start_tensorflow() lists the GPUs.
        return "auto"
    family = families.family_of(cfg.model)
    if family != "dense":
        if cfg.runtime.deterministic or family not in families.XLA_ON_CPU:
            return "auto"
        return families.XLA_ON_CPU[family]
    if cfg.model.dropout > 0 and (cfg.train.dropout_masks == "keras" or not fused_loop_possible(cfg)):
        return False
    if cfg.runtime.deterministic and not fused_loop_possible(cfg):
        return "auto"
    return True


def uses_fused_steps(cfg: Any) -> bool:
    """`runtime.fuse_steps`, where it pays: on TensorFlow and under XLA. Without XLA,
    TensorFlow's own while loop and its CPU kernel for summing sparse gradients
    make the fused step slower than Keras's loop."""
    return fused_loop_possible(cfg) and resolve_jit_compile(cfg) is True


def compile_model(model: keras.Model, cfg: Any) -> keras.Model:
    train_cfg = cfg.train
    optimizer = OPTIMIZERS[train_cfg.optimizer](learning_rate=train_cfg.learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=train_cfg.loss,
        # Named explicitly: with loss=mse the string "accuracy" would not
        # necessarily mean binary accuracy.
        metrics=[keras.metrics.BinaryAccuracy(name=contract.ACCURACY)],
        # A fused model's every call already runs a group of steps_per_execution batches.
        steps_per_execution=1 if isinstance(model, FusedStepsSequential) else cfg.runtime.steps_per_execution,
        jit_compile=resolve_jit_compile(cfg),
    )
    return model


def build_compiled_model(cfg: Any, num_words: int, maxlen: int) -> keras.Model:
    # Process-wide in Keras; set every time so one job's choice never leaks into the next.
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.runtime.mixed_precision else "float32")
    if families.family_of(cfg.model) != "dense":
        return compile_model(families.build(cfg.model, num_words=num_words, maxlen=maxlen), cfg)
    model = build_model(cfg.model, num_words, maxlen, fused_steps=uses_fused_steps(cfg),
                        embedding_gradients=cfg.train.embedding_gradients,
                        dropout_masks=cfg.train.dropout_masks, seed=cfg.seed)
    return compile_model(model, cfg)
