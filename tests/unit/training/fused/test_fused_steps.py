"""Fused steps train exactly as Keras's own fit loop would, batch for batch."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from imdb_sweep.config.choices import OPTIMIZERS as OPTIMIZER_NAMES
from imdb_sweep.training.fused.batches import BatchGroups, validation_split
from imdb_sweep.training.fused.model import EVALUATION_SLICE, FusedStepsSequential, portable_model
from imdb_sweep.training.fused.optimizers import dense_embedding_update, has_dense_embedding_update
from imdb_sweep.training.model import (
    OPTIMIZERS,
    build_compiled_model,
    build_model,
    compile_model,
    resolve_jit_compile,
    uses_fused_steps,
)
from tests.helpers.fused import LENGTH, VOCABULARY, tiny_arrays


def summing(optimizer_class: type) -> type:
    """`optimizer_class` fed summed (dense) embedding gradients: the reference for
    embedding_gradients=summed. The stock class as it is is the reference for
    per_occurrence."""

    class SummedGradients(optimizer_class):
        def apply(self, grads, trainable_variables=None):
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
            return super().apply(grads, trainable_variables)

    return SummedGradients


def compiled_pair(compose_config, embedding_gradients: str = "per_occurrence", xla: bool = False,
                  *overrides: str, optimizer_settings: dict | None = None) -> tuple[keras.Model, keras.Model]:
    """A FusedStepsSequential and a stock Sequential with the same layers and starting weights;
    the stock one's optimizer gets the gradients the way `embedding_gradients` says. With
    `optimizer_settings` (ones the config has no key for, e.g. momentum), both optimizers get them."""
    cfg = compose_config(f"runtime.jit_compile={str(xla).lower()}", f"train.embedding_gradients={embedding_gradients}",
                         *overrides)
    keras.utils.set_random_seed(3)
    fused = compile_model(build_model(cfg.model, VOCABULARY, LENGTH, fused_steps=True,
                                      embedding_gradients=embedding_gradients), cfg)
    optimizer_class = OPTIMIZERS[cfg.train.optimizer]
    if optimizer_settings:
        fused.optimizer = optimizer_class(learning_rate=cfg.train.learning_rate, **optimizer_settings)
    stock = build_model(cfg.model, VOCABULARY, LENGTH, fused_steps=False)
    stock_optimizer = summing(optimizer_class) if embedding_gradients == "summed" else optimizer_class
    stock.compile(optimizer=stock_optimizer(learning_rate=cfg.train.learning_rate, **(optimizer_settings or {})),
                  loss=cfg.train.loss, metrics=[keras.metrics.BinaryAccuracy(name="accuracy")], jit_compile=xla)
    stock.set_weights(fused.get_weights())
    assert isinstance(fused, FusedStepsSequential) and not isinstance(stock, FusedStepsSequential)
    return fused, stock


def float64_replica(stock: keras.Model, optimizer: keras.optimizers.Optimizer, loss: str,
                    xla: bool) -> keras.Model:
    """`stock` with every layer in float64 and the same starting weights: near enough
    to exact arithmetic to measure how far float32 rounding takes Keras's own result."""

    config = stock.get_config()
    for layer in config["layers"]:
        if layer["class_name"] != "InputLayer":
            layer["config"]["dtype"] = "float64"
    replica = keras.Sequential.from_config(config)
    replica.compile(optimizer=optimizer, loss=loss, metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                    jit_compile=xla)
    replica.set_weights([weight.astype("float64") for weight in stock.get_weights()])
    return replica


def assert_within_float32_rounding(ours: list[np.ndarray], stock: list[np.ndarray], exact: list[np.ndarray]) -> None:
    """Our float32 results and Keras's differ by no more than float32 rounding allows.
    Each lies within its own rounding error of the exact result, so they differ by at
    most the sum of the two errors. Keras's is measured against float64, over all the
    arrays compared (a one-element bias alone is too small a sample of it); ours, the
    same operations in another order (XLA fusion, SIMD width, FMA: CPU-dependent), is
    allowed three times it, plus four units in the last place of each array's values."""
    keras_error = max(float(np.max(np.abs(theirs.astype("float64") - truth))) for theirs, truth in zip(stock, exact))
    for mine, theirs, truth in zip(ours, stock, exact):
        last_place = float(np.finfo(np.float32).eps * np.max(np.abs(truth)))
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=4 * keras_error + 4 * last_place)


# Every optimizer's dense embedding update (fused/optimizers.py) against stock Keras,
# under XLA as jobs on a CPU run, with learning rates large enough that squaring a
# repeated word's summed gradient instead would fail the comparison.
DENSE_UPDATE_CASES = [
    # Centered with rho near 1: per occurrence, its variance estimate goes negative for
    # a word seen more than about 1 / (1 - rho^step) times a batch (fused/optimizers.py).
    ("rmsprop", {"momentum": 0.9}, 0.01), ("rmsprop", {"centered": True, "rho": 0.999}, 0.01),
    ("adam", {}, 0.01), ("nadam", {}, 0.01), ("adagrad", {}, 0.1),
    ("sgd", {}, 0.1), ("sgd", {"momentum": 0.9}, 0.1), ("sgd", {"momentum": 0.9, "nesterov": True}, 0.1),
]


@pytest.mark.parametrize(("count", "embedding_gradients", "xla", "overrides", "optimizer_settings"), [
    (96, "per_occurrence", False, (), {}), (96, "summed", False, (), {}),  # whole batches only
    (100, "per_occurrence", False, (), {}), (100, "summed", False, (), {}),  # and a partial last batch
    # Both compiled by XLA (which rounds differently), as jobs on a CPU are.
    (100, "per_occurrence", True, (), {}), (100, "summed", True, (), {}),
    *[(100, "per_occurrence", True, (f"train.optimizer={name}", f"train.learning_rate={learning_rate}"), settings)
      for name, settings, learning_rate in DENSE_UPDATE_CASES],
    # Summed gradients are dense: every optimizer takes them its own (dense) way.
    *[(100, "summed", True, (f"train.optimizer={name}", "train.learning_rate=0.01"), {})
      for name in ("adam", "nadam", "adagrad", "sgd")],
])
def test_fused_training_matches_keras_fit_on_the_same_batch_order(compose_config, count, embedding_gradients,
                                                                  xla, overrides, optimizer_settings):
    fused, stock = compiled_pair(compose_config, embedding_gradients, xla, *overrides,
                                 optimizer_settings=optimizer_settings)
    # The dense update itself is what is checked, not Keras's generic path beside it.
    assert has_dense_embedding_update(fused.optimizer) or embedding_gradients == "summed"
    x, y = tiny_arrays(count)
    # Group size 2 over 3 whole batches: one full group, one padded group of 1.
    groups = BatchGroups(x, y, batch_size=32, group_size=2, seed=5)
    fused_history = fused.fit(groups.dataset(), epochs=2, shuffle=False, verbose=0,
                              callbacks=[groups.epoch_callback()]).history

    settings = {key: value for key, value in stock.optimizer.get_config().items() if key != "name"}
    exact = float64_replica(stock, type(stock.optimizer)(**settings), stock.loss, xla)
    histories: dict[str, dict[str, list[float]]] = {"stock": {"loss": [], "accuracy": []},
                                                    "exact": {"loss": [], "accuracy": []}}
    for epoch in range(2):
        order = groups.order(epoch)
        for name, model in (("stock", stock), ("exact", exact)):
            history = model.fit(x[order], y[order], batch_size=32, epochs=1, shuffle=False, verbose=0).history
            for key in ("loss", "accuracy"):
                histories[name][key] += history[key]

    assert fused.optimizer.iterations.numpy() == stock.optimizer.iterations.numpy() == 2 * -(-count // 32)
    assert exact.get_weights()[0].dtype == np.float64
    assert_within_float32_rounding(fused.get_weights(), stock.get_weights(), exact.get_weights())
    assert_within_float32_rounding([np.array(fused_history["loss"])], [np.array(histories["stock"]["loss"])],
                                   [np.array(histories["exact"]["loss"])])
    # Accuracy counts predictions on either side of 0.5: none of these is within rounding of it.
    np.testing.assert_array_equal(fused_history["accuracy"], histories["stock"]["accuracy"])


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_every_optimizer_the_config_offers_has_the_dense_embedding_update(compose_config, name):
    cfg = compose_config(f"train.optimizer={name}")
    model = build_compiled_model(cfg, VOCABULARY, LENGTH)
    assert isinstance(model, FusedStepsSequential) and has_dense_embedding_update(model.optimizer)


@pytest.mark.parametrize("optimizer", [
    keras.optimizers.Adam(amsgrad=True), keras.optimizers.SGD(clipnorm=1.0), keras.optimizers.Nadam(weight_decay=0.1),
    keras.optimizers.Adagrad(use_ema=True), keras.optimizers.AdamW(), keras.optimizers.Lion(),
], ids=lambda optimizer: type(optimizer).__name__)
def test_settings_the_dense_update_leaves_out_go_the_generic_way(optimizer):
    variable = keras.Variable(np.ones((4, 2), "float32"))
    optimizer.build([variable])
    slices = tf.IndexedSlices(tf.ones((3, 2)), tf.constant([0, 0, 1]), tf.constant([4, 2]))
    assert not has_dense_embedding_update(optimizer)
    assert not dense_embedding_update(optimizer, slices, variable)
    assert not dense_embedding_update(keras.optimizers.Adam(), tf.ones((4, 2)), variable)  # already dense
    np.testing.assert_array_equal(variable.numpy(), 1.0)


def test_summed_gradients_change_the_embedding_update_when_words_repeat(compose_config):
    # The two ways differ only for a word seen more than once in a batch.
    x, y = tiny_arrays(32)
    x[:, :6] = 7
    trained = []
    for embedding_gradients in ("summed", "per_occurrence"):
        fused, _ = compiled_pair(compose_config, embedding_gradients)
        groups = BatchGroups(x, y, batch_size=32, group_size=1, seed=5)
        fused.fit(groups.dataset(), epochs=1, shuffle=False, verbose=0)
        trained.append(fused.get_layer("embedding").get_weights()[0])
    assert np.abs(trained[0][7] - trained[1][7]).max() > 1e-4


def test_batch_groups_shuffle_every_epoch_and_cover_every_sample_once():
    x, y = tiny_arrays(100)
    groups = BatchGroups(x, y, batch_size=32, group_size=2, seed=5)
    assert len(groups) == 3
    orders = [groups.order(epoch) for epoch in range(2)]
    assert all(sorted(order) == list(range(100)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[1], BatchGroups(x, y, 32, 2, seed=5).order(1))  # a resumed run

    groups.epoch = 1
    elements = list(groups.groups())
    shapes = [(ids.shape, int(count), labels.shape) for (ids, count), labels in elements]
    assert shapes == [((2, 32, LENGTH), 2, (2, 32)), ((2, 32, LENGTH), 1, (2, 32)), ((1, 4, LENGTH), 1, (1, 4))]
    seen = np.concatenate([ids[:int(count)].reshape(-1, LENGTH) for (ids, count), _ in elements])
    np.testing.assert_array_equal(seen, x[orders[1]])


def test_batch_groups_dataset_reads_every_group_without_tf_data_autotuning():
    # Autotuning made deleting each epoch's iterator wait up to a second
    # (benchmarks/iterator_teardown.py); the fixed prefetch buffer needs none.
    x, y = tiny_arrays(100)
    groups = BatchGroups(x, y, batch_size=32, group_size=2, seed=5)
    dataset = groups.dataset()
    assert dataset.options().autotune.enabled is False
    elements = list(dataset.as_numpy_iterator())
    assert [int(count) for (_, count), _ in elements] == [2, 1, 1]
    seen = np.concatenate([ids[:int(count)].reshape(-1, LENGTH) for (ids, count), _ in elements])
    np.testing.assert_array_equal(seen, x[groups.order(0)])


def test_group_size_never_exceeds_the_batches_there_are():
    x, y = tiny_arrays(64)
    assert BatchGroups(x, y, batch_size=32, group_size=32, seed=0).group_size == 2


def test_validation_split_takes_the_last_fraction_like_keras():
    x, y = tiny_arrays(10)
    (x_fit, y_fit), (x_val, y_val) = validation_split(x, y, 0.2)
    np.testing.assert_array_equal(x_fit, x[:8])
    np.testing.assert_array_equal(y_val, y[8:])
    with pytest.raises(ValueError, match="train.validation_split = 0.95"):
        validation_split(x, y, 0.95)


def test_the_logged_model_is_a_stock_sequential_with_the_trained_weights(compose_config, tmp_path):
    fused, _ = compiled_pair(compose_config)
    portable = portable_model(fused)
    assert type(portable) is keras.Sequential
    for ours, theirs in zip(fused.get_weights(), portable.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    portable.save(tmp_path / "model.keras")
    with keras.saving.custom_object_scope({}):
        reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(reloaded) is keras.Sequential
    x, _ = tiny_arrays(4)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), fused.predict(x, verbose=0), rtol=1e-6)


def one_pass_error_bound(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """How far float32 arithmetic lets two evaluations of `model` (Embedding, Flatten,
    Dense layers, sigmoid) on `x` differ when they sum each dot product in another
    order: a sum of n terms reordered moves by at most about n * eps * the sum of
    the terms' magnitudes; a layer passes on its input's error through |W|
    (relu's slope is at most 1), and the sigmoid's slope is at most 1/4."""
    eps = np.finfo(np.float32).eps
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    values = model.layers[0](x).numpy().reshape(len(x), -1).astype(np.float64)
    error = np.zeros_like(values)
    for layer in layers:
        kernel, bias = (weight.astype(np.float64) for weight in layer.get_weights())
        terms = np.abs(values) @ np.abs(kernel) + np.abs(bias)
        error = error @ np.abs(kernel) + (kernel.shape[0] + 1) * eps * terms
        values = values @ kernel + bias
        if layer is not layers[-1]:
            values = np.maximum(values, 0.0)
    return error[:, 0] / 4 + eps  # through the sigmoid, then its own rounding


def test_evaluation_in_slices_scores_each_review_as_one_pass_and_counts_only_real_reviews(compose_config):
    fused, stock = compiled_pair(compose_config, "per_occurrence", True)
    x, y = tiny_arrays(3 * EVALUATION_SLICE + 37)
    batch_size = 2 * EVALUATION_SLICE + 50  # a batch of three slices, the last one padded, then a short batch

    sliced = tf.function(fused._forward_for_evaluation, jit_compile=True)
    one_pass = tf.function(lambda rows: stock(rows, training=False), jit_compile=True)
    batches = [slice(start, start + batch_size) for start in range(0, len(x), batch_size)]
    sliced_predictions = np.concatenate([sliced(x[rows]).numpy() for rows in batches])[:, 0]
    one_pass_predictions = np.concatenate([one_pass(x[rows]).numpy() for rows in batches])[:, 0]
    assert sliced_predictions.shape == (len(x),)
    assert np.all(np.abs(sliced_predictions - one_pass_predictions) <= one_pass_error_bound(stock, x))

    # Loss and accuracy come from the whole batch's predictions, the padding left out:
    # binary cross-entropy (Keras clips at 1e-7) averaged per batch, then weighted by
    # the batch sizes; accuracy counts predictions above 0.5.
    loss, accuracy = fused.evaluate(x, y, batch_size=batch_size, verbose=0)
    clipped = np.clip(sliced_predictions.astype(np.float64), 1e-7, 1 - 1e-7)
    per_review = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    expected_loss = sum(per_review[rows].sum() for rows in batches) / len(x)
    assert accuracy == pytest.approx(np.mean((sliced_predictions > 0.5) == y), abs=1 / (2 * len(x)))
    # float32 means of at most batch_size terms, and log's own rounding
    assert loss == pytest.approx(expected_loss, rel=2 * batch_size * float(np.finfo(np.float32).eps))


def test_fused_steps_where_they_pay_keras_own_loop_elsewhere(compose_config):
    assert OmegaConf.select(compose_config(), "runtime.fuse_steps") is True
    assert uses_fused_steps(compose_config())  # the reference model under XLA on a CPU
    assert not uses_fused_steps(compose_config("runtime.fuse_steps=false"))
    # Dropout with hashed masks (the default) and deterministic ops keep XLA and the fused loop.
    assert uses_fused_steps(compose_config("variant=dropout"))
    assert uses_fused_steps(compose_config("runtime.deterministic=true"))
    # No XLA (Keras's Dropout masks on a CPU, or asked): the fused loop would be slower.
    assert not uses_fused_steps(compose_config("variant=dropout", "train.dropout_masks=keras"))
    assert not uses_fused_steps(compose_config("runtime.jit_compile=false"))
    assert uses_fused_steps(compose_config("variant=dropout", "train.dropout_masks=keras", "runtime.jit_compile=true"))
    assert resolve_jit_compile(compose_config("variant=dropout", "runtime.fuse_steps=false")) is False
    assert resolve_jit_compile(compose_config("runtime.deterministic=true", "runtime.fuse_steps=false")) == "auto"

    cfg = compose_config("runtime.fuse_steps=false", "runtime.steps_per_execution=8")
    model = compile_model(build_model(cfg.model, VOCABULARY, LENGTH), cfg)
    assert type(model) is keras.Sequential and model.steps_per_execution == 8


def test_the_private_keras_state_the_fused_loop_uses_is_still_there():
    # Fails loudly, naming the attribute, when a Keras upgrade renames one.
    from imdb_sweep.training.fused.keras_internals import check_keras_internals

    check_keras_internals()
