"""Dropout in the fused loop: hashed masks with Keras's Dropout semantics, trained under XLA."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from imdb_sweep.training.fused.batches import BatchGroups
from imdb_sweep.training.fused.dropout import hashed_dropout
from imdb_sweep.training.fused.model import FusedStepsSequential, portable_model
from imdb_sweep.training.model import build_compiled_model, build_model, compile_model
from tests.helpers.fused import LENGTH, VOCABULARY, tiny_arrays


def dropped(rate: float, seed: int = 1, step: int = 0, stream: int = 0, xla: bool = False) -> np.ndarray:
    """hashed_dropout applied to ones: 0 where dropped, the scale where kept."""
    ones = tf.ones((64, 1000))
    apply = tf.function(lambda: hashed_dropout(ones, rate, seed, tf.constant(step, tf.int64), stream),
                        jit_compile=xla)
    return apply().numpy()


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_hashed_dropout_drops_about_rate_and_scales_the_kept_units(rate):
    units = dropped(rate)
    # 64,000 units: the dropped share's standard deviation is at most 0.002.
    assert abs((units == 0).mean() - rate) < 0.01
    np.testing.assert_allclose(units[units != 0], 1 / (1 - rate), rtol=1e-6)


def test_masks_differ_between_steps_seeds_and_layers_and_repeat_for_the_same_ones():
    kept = dropped(0.5) != 0
    np.testing.assert_array_equal(dropped(0.5) != 0, kept)  # the same (seed, step, layer): the same mask
    np.testing.assert_array_equal(dropped(0.5, xla=True) != 0, kept)  # with or without XLA
    # Independent masks agree on about half of the units; so do neighbouring units of one mask.
    for other in (dropped(0.5, step=1), dropped(0.5, step=2), dropped(0.5, seed=2), dropped(0.5, stream=3)):
        assert abs(((other != 0) == kept).mean() - 0.5) < 0.01
    assert abs((kept[:, 1:] == kept[:, :-1]).mean() - 0.5) < 0.01
    assert abs((kept[1:] == kept[:-1]).mean() - 0.5) < 0.01


class HashedDropoutReference(keras.layers.Layer):
    """The fused loop's hashed masks as a layer, for a stock Sequential trained by
    Keras's own fit: the reference for what the fused step should compute."""

    def __init__(self, rate: float, seed: int, place: int, optimizer_of, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed, self.place, self.optimizer_of = rate, seed, place, optimizer_of

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return hashed_dropout(inputs, self.rate, self.seed, self.optimizer_of().iterations, self.place)


@pytest.mark.parametrize("xla", [False, True])
def test_fused_dropout_training_matches_keras_fit_with_the_same_masks(compose_config, xla):
    cfg = compose_config("variant=dropout", f"runtime.jit_compile={str(xla).lower()}")
    keras.utils.set_random_seed(3)
    fused = compile_model(build_model(cfg.model, VOCABULARY, LENGTH, fused_steps=True, seed=7), cfg)
    place = [type(layer) for layer in fused.layers].index(keras.layers.Dropout)
    stock = keras.Sequential([
        keras.Input(shape=(LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCABULARY, cfg.model.embedding_dim),
        keras.layers.Flatten(),
        HashedDropoutReference(cfg.model.dropout, 7, place, lambda: stock.optimizer),
        keras.layers.Dense(cfg.model.units, activation=cfg.model.activation),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    stock.compile(optimizer=keras.optimizers.RMSprop(cfg.train.learning_rate), loss=cfg.train.loss, jit_compile=xla)
    stock.set_weights(fused.get_weights())

    x, y = tiny_arrays(100)
    groups = BatchGroups(x, y, batch_size=32, group_size=2, seed=5)
    fused_losses = fused.fit(groups.dataset(), epochs=2, shuffle=False, verbose=0,
                             callbacks=[groups.epoch_callback()]).history["loss"]
    stock_losses = []
    for epoch in range(2):
        order = groups.order(epoch)
        stock_losses += stock.fit(x[order], y[order], batch_size=32, epochs=1, shuffle=False, verbose=0).history["loss"]

    for fused_weight, stock_weight in zip(fused.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(fused_weight, stock_weight, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fused_losses, stock_losses, rtol=1e-5)


def test_a_dropout_model_trains_on_the_fused_path_under_xla(compose_config):
    cfg = compose_config("variant=dropout")
    model = build_compiled_model(cfg, VOCABULARY, LENGTH)
    assert isinstance(model, FusedStepsSequential) and model.jit_compile is True
    assert (model.dropout_masks, model.dropout_seed) == ("hashed", cfg.seed)
    x, y = tiny_arrays(256)
    groups = BatchGroups(x, y, batch_size=32, group_size=4, seed=5)
    losses = model.fit(groups.dataset(), epochs=3, shuffle=False, verbose=0,
                       callbacks=[groups.epoch_callback()]).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]

    # Keras's own masks: its Dropout layer, trained by Keras's loop without XLA.
    keras_masks = build_compiled_model(compose_config("variant=dropout", "train.dropout_masks=keras"),
                                       VOCABULARY, LENGTH)
    assert type(keras_masks) is keras.Sequential and keras_masks.jit_compile is False


def test_inference_ignores_dropout_and_the_logged_model_keeps_a_stock_dropout_layer(compose_config, tmp_path):
    cfg = compose_config("variant=dropout")
    model = build_compiled_model(cfg, VOCABULARY, LENGTH)
    x, y = tiny_arrays(64)
    groups = BatchGroups(x, y, batch_size=32, group_size=2, seed=5)
    model.fit(groups.dataset(), epochs=1, shuffle=False, verbose=0)

    without_dropout = x
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Dropout):
            without_dropout = layer(without_dropout)
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(predicted, keras.ops.convert_to_numpy(without_dropout), rtol=1e-5)

    portable = portable_model(model)
    assert type(portable) is keras.Sequential
    assert [type(layer) for layer in portable.layers] == [type(layer) for layer in model.layers]
    portable.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), predicted, rtol=1e-6)


def test_a_reloaded_dropout_model_goes_on_with_the_masks_of_an_uninterrupted_run(compose_config, tmp_path):
    # Checkpoints save the model; the optimizer's step count, which the masks
    # follow, comes back with it.
    cfg = compose_config("variant=dropout")
    x, y = tiny_arrays(96)

    def fit(model, first_epoch, last_epoch):
        groups = BatchGroups(x, y, batch_size=32, group_size=2, seed=5)
        model.fit(groups.dataset(), initial_epoch=first_epoch, epochs=last_epoch, shuffle=False, verbose=0,
                  callbacks=[groups.epoch_callback()])

    keras.utils.set_random_seed(3)
    uninterrupted = build_compiled_model(cfg, VOCABULARY, LENGTH)
    interrupted = build_compiled_model(cfg, VOCABULARY, LENGTH)
    interrupted.set_weights(uninterrupted.get_weights())
    fit(uninterrupted, 0, 2)
    fit(interrupted, 0, 1)
    interrupted.save(tmp_path / "checkpoint.keras")
    resumed = keras.models.load_model(tmp_path / "checkpoint.keras")
    assert (resumed.dropout_masks, resumed.dropout_seed, resumed.jit_compile) == ("hashed", cfg.seed, True)
    fit(resumed, 1, 2)
    for resumed_weight, whole_weight in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_allclose(resumed_weight, whole_weight, rtol=1e-5, atol=1e-7)


def test_the_masks_setting_is_part_of_a_runs_identity(compose_config):
    # It changes the trained numbers, so a sweep must not take one for the other.
    from imdb_sweep.config import identity

    assert identity.affects_training("train.dropout_masks")
    hashed = compose_config("variant=dropout")
    keras_masks = compose_config("variant=dropout", "train.dropout_masks=keras")
    assert identity.config_hash(hashed, "d" * 64) != identity.config_hash(keras_masks, "d" * 64)
