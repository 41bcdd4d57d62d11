"""The model of every variant has the reference layer structure."""

from __future__ import annotations

import keras
import pytest

from imdb_sweep.training.fused.model import FusedStepsSequential
from imdb_sweep.training.model import build_compiled_model
from tests.helpers.variants import VARIANT_CHANGES


def hidden_dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    return [layer for layer in model.layers if layer.name.startswith("hidden_")]


@pytest.mark.parametrize("variant", sorted(VARIANT_CHANGES))
def test_variant_model_structure(compose_config, variant):
    cfg = compose_config(f"variant={variant}")
    model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)

    embedding = model.get_layer("embedding")
    assert (embedding.input_dim, embedding.output_dim) == (10000, 32)
    assert model.input_shape == (None, 500)
    kinds = [type(layer).__name__ for layer in model.layers]
    expected_dropout = ["Dropout"] if variant == "dropout" else []
    hidden = cfg.model.hidden_layers
    assert kinds == ["Embedding", "Flatten", *expected_dropout, *["Dense"] * hidden, "Dense"]
    if variant == "dropout":
        assert model.get_layer("dropout").rate == 0.5

    for layer in hidden_dense_layers(model):
        assert layer.units == cfg.model.units
        assert layer.activation.__name__ == cfg.model.activation
        if cfg.model.l2 > 0:
            assert float(layer.kernel_regularizer.l2) == pytest.approx(0.001)
        else:
            assert layer.kernel_regularizer is None
    output = model.get_layer("output")
    assert output.units == 1 and output.activation.__name__ == "sigmoid"

    expected_loss = "mse" if variant == "mse" else "binary_crossentropy"
    assert model.loss == expected_loss
    assert type(model.optimizer).__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)


def test_baseline_parameter_count_matches_the_reference(compose_config):
    cfg = compose_config()
    model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
    # Embedding 10000*32 + Dense 16000*32+32 + Dense 32+1, as in the reference notebook.
    assert model.count_params() == 10000 * 32 + (500 * 32 * 32 + 32) + 33


def test_mixed_precision_computes_in_float16_with_a_float32_output(compose_config):
    cfg = compose_config("runtime.mixed_precision=true")
    try:
        model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
        assert model.get_layer("hidden_1").compute_dtype == "float16"
        assert model.get_layer("hidden_1").variable_dtype == "float32"
        assert model.get_layer("output").compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # The next default job is back to float32.
    plain = build_compiled_model(compose_config(), 10000, 500)
    assert plain.get_layer("hidden_1").compute_dtype == "float32"


def test_speed_settings_reach_the_compiled_model(compose_config):
    cfg = compose_config("runtime.steps_per_execution=8", "runtime.jit_compile=false")
    model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
    assert not isinstance(model, FusedStepsSequential) and model.steps_per_execution == 8
    assert model.jit_compile is False
    # Fused steps (the default, under XLA): each call of Keras's loop trains a group of 8 batches.
    fused = build_compiled_model(compose_config("runtime.steps_per_execution=8"), 10000, 500)
    assert isinstance(fused, FusedStepsSequential) and fused.steps_per_execution == 1
    # auto on a CPU: XLA for the reference model and for Dropout with hashed masks (the
    # default), not for Keras's Dropout masks (slow under XLA there).
    assert build_compiled_model(compose_config(), 10000, 500).jit_compile is True
    assert build_compiled_model(compose_config("variant=dropout"), 10000, 500).jit_compile is True
    keras_masks = compose_config("variant=dropout", "train.dropout_masks=keras")
    assert build_compiled_model(keras_masks, 10000, 500).jit_compile is False
    forced = compose_config("variant=dropout", "runtime.jit_compile=true")
    assert build_compiled_model(forced, 10000, 500).jit_compile is True


def test_every_optimizer_the_config_offers_is_built():
    from imdb_sweep.config import choices
    from imdb_sweep.training.model import OPTIMIZERS

    assert tuple(OPTIMIZERS) == choices.OPTIMIZERS
