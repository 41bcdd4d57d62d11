"""FusedStepsSequential: many batches per compiled call, for the TensorFlow backend.

Keras's `steps_per_execution` still launches one compiled train step per batch
from a TensorFlow while loop, with an iterator read and a control-flow round
trip in between. For the reference model each step is about a millisecond of
work, so that launch overhead is a large part of the epoch. Here a dataset
element is a group of batches, `(group_size, batch_size, maxlen)` (batches.py),
and the train step loops over them inside one XLA program.

The training is the same as `model.fit(x, y, batch_size, shuffle=True)`: every
epoch sees the samples in a new seeded order, each batch makes one optimizer
update, and the epoch's loss and metrics average over its batches as Keras's do.

`embedding_gradients` (train.embedding_gradients) says what the optimizer's
squared-gradient state gets for a word seen several times in a batch; every
optimizer the config offers updates the embedding with dense per-word sums
(optimizers.py).
`dropout_masks` (train.dropout_masks) says where a Dropout layer's training
masks come from: "hashed", a hash of (`dropout_seed`, step, position) computed
in the XLA program (dropout.py), or "keras", the layer's own random ops. The
Dropout layer stays in the stack either way, so inference and the logged model
(portable_model) are stock Keras.

Evaluation (validation after every epoch, the test split) takes batches of
`runtime.evaluation_batch_size` as Keras's own test step does, but runs the
layers before the output layer inside the compiled program in slices of
EVALUATION_SLICE reviews: a batch of 1000 reviews embeds into a 64 MB
(1000, 500, 32) block that no CPU cache holds, where 250 reviews' 16 MB keeps
the hidden Dense layer's reads close (the gain: benchmarks/README.md).
Each slice's rows come out as in one pass, and the output layer, the loss and
the metrics take the whole batch as before: the job's metrics are the same bit
for bit (benchmarks/README.md, speed.py), and tests/unit/training/fused/test_fused_steps.py holds
the slices to the float32 arithmetic on any CPU.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from imdb_sweep.config.choices import DROPOUT_MASKS, EMBEDDING_GRADIENTS
from imdb_sweep.process.quiet_tensorflow import without_cache_notices
from imdb_sweep.training.fused import keras_internals
from imdb_sweep.training.fused.dropout import hashed_dropout
from imdb_sweep.training.fused.optimizers import dense_embedding_update

# Reviews per forward pass inside an evaluation batch (see the module's docstring).
EVALUATION_SLICE = 250


@keras.saving.register_keras_serializable(package="imdb_sweep")
class FusedStepsSequential(keras.Sequential):
    """A Sequential model whose train step takes a group of batches: `((x, count), y)`
    with x of shape (group, batch, ...), y of shape (group, batch, ...); the first
    `count` batches are trained on, one optimizer update each, in order."""

    # Keras's compiled steps (None until made), wrapped by make_train/test_function.
    train_function: Any
    test_function: Any

    def __init__(self, *args, embedding_gradients: str = "per_occurrence", dropout_masks: str = "hashed",
                 dropout_seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if embedding_gradients not in EMBEDDING_GRADIENTS:
            raise ValueError(f"embedding_gradients must be one of {EMBEDDING_GRADIENTS}, not {embedding_gradients!r}")
        if dropout_masks not in DROPOUT_MASKS:
            raise ValueError(f"dropout_masks must be one of {DROPOUT_MASKS}, not {dropout_masks!r}")
        self.embedding_gradients = embedding_gradients
        self.dropout_masks = dropout_masks
        self.dropout_seed = dropout_seed

    def fused_settings(self) -> dict:
        """This class's own constructor arguments, beside Sequential's."""
        return {"embedding_gradients": self.embedding_gradients, "dropout_masks": self.dropout_masks,
                "dropout_seed": self.dropout_seed}

    def get_config(self) -> dict:
        return {**super().get_config(), **self.fused_settings()}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        # Older checkpoints lack the later settings: the defaults they trained with.
        settings = {"embedding_gradients": config.pop("embedding_gradients", "per_occurrence"),
                    "dropout_masks": config.pop("dropout_masks", "keras"),
                    "dropout_seed": config.pop("dropout_seed", 0)}
        model = super().from_config(config, custom_objects=custom_objects)
        for name, value in settings.items():
            setattr(model, name, value)
        return model

    @property
    def jit_compile(self):
        return keras.Model.jit_compile.fget(self)

    @jit_compile.setter
    def jit_compile(self, value) -> None:
        # Keras refuses XLA whenever TensorFlow's op determinism is on
        # (runtime.deterministic): "not all ops are supported by XLA with determinism
        # enabled". On a CPU every op of the fused step compiles and repeats bit for
        # bit (tests/unit/training/fused/test_fused_determinism.py), and without XLA the fused loop is
        # slower than Keras's, so on a CPU a fused model takes XLA when asked.
        if value is True and all(layer.supports_jit for layer in self.layers) \
                and not tf.config.list_physical_devices("GPU"):
            keras_internals.set_jit_compile(self, True)
        else:
            keras.Model.jit_compile.fset(self, value)

    # A compiled step's call may compile its program or load the saved one;
    # TensorFlow's notice on loading stays off the job's output (compilation_cache.py).
    def make_train_function(self, force: bool = False):
        if self.train_function is None or force:
            # The variables first, so that TensorFlow traces the train step once
            # (with them created inside, it traces it twice, in a job's first epoch).
            keras_internals.build_state(self, self.inputs[0], keras.KerasTensor((None,), "float32"))
            super().make_train_function(force=True)
            self.train_function = without_cache_notices(self.train_function)
        return self.train_function

    def make_test_function(self, force: bool = False):
        if self.test_function is None or force:
            super().make_test_function(force=True)
            self.test_function = without_cache_notices(self.test_function)
        return self.test_function

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
            y_pred = self._forward_for_training(x)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            keras_internals.loss_tracker(self).update_state(loss, sample_weight=tf.shape(x)[0])
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        pairs = list(zip(gradients, self.trainable_weights))
        if self.embedding_gradients == "summed":
            pairs = [(tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g, v) for g, v in pairs]
        else:
            # Before apply_gradients, which moves the iterations (and the learning-rate schedule) on.
            pairs = [(g, v) for g, v in pairs if not dense_embedding_update(self.optimizer, g, v)]
        self.optimizer.apply_gradients(pairs)
        self.compute_metrics(x, y, y_pred)

    def test_step(self, data):
        # Keras's own TensorFlow test_step, with the forward pass in slices.
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self._forward_for_evaluation(x)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        keras_internals.loss_tracker(self).update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _forward_for_evaluation(self, x):
        """self(x, training=False), with every layer but the output layer run
        EVALUATION_SLICE reviews at a time in one XLA loop (a batch no larger is
        one slice; the last slice is padded with rows of zeros, cut off after).
        The output layer then takes the whole batch, as in Keras's own test step:
        with it the loss compiles as there, and comes out the same bit for bit."""
        *sliced_layers, output_layer = self.layers
        rows = tf.shape(x)[0]
        slice_rows = tf.minimum(rows, EVALUATION_SLICE)
        padding = (slice_rows - rows % slice_rows) % slice_rows
        slices = tf.reshape(tf.pad(x, [[0, padding]] + [[0, 0]] * (len(x.shape) - 1)),
                            tf.concat([[-1, slice_rows], tf.shape(x)[1:]], axis=0))
        sliced_output = keras.KerasTensor((None, *x.shape[1:]), dtype=x.dtype)
        for layer in sliced_layers:
            sliced_output = layer.compute_output_spec(sliced_output)

        def forward(rows_slice):
            for layer in sliced_layers:
                rows_slice = layer(rows_slice, training=False)
            return rows_slice

        hidden = tf.map_fn(forward, slices,
                           fn_output_signature=tf.TensorSpec(sliced_output.shape, sliced_output.dtype))
        hidden = tf.reshape(hidden, tf.concat([[-1], tf.shape(hidden)[2:]], axis=0))[:rows]
        return output_layer(hidden, training=False)

    def _forward_for_training(self, x):
        """self(x, training=True), with every Dropout layer's mask hashed from
        (dropout_seed, the optimizer's step, the layer's place) where dropout_masks
        says so (dropout.py)."""
        dropout = keras.layers.Dropout
        if self.dropout_masks == "keras" or not any(isinstance(layer, dropout) for layer in self.layers):
            return self(x, training=True)
        outputs = x
        for place, layer in enumerate(self.layers):
            if isinstance(layer, dropout):
                if layer.noise_shape is not None:
                    raise ValueError(f"hashed dropout masks support no noise_shape (layer {layer.name})")
                outputs = hashed_dropout(outputs, layer.rate, self.dropout_seed, self.optimizer.iterations, place)
            else:
                outputs = layer(outputs, training=True)
        return outputs


def portable_model(model: keras.Model) -> keras.Model:
    """`model` itself, or for a FusedStepsSequential a stock keras.Sequential with
    the same layers and weights: what gets logged, loadable without imdb_sweep."""
    if not isinstance(model, FusedStepsSequential):
        return model
    config = model.get_config()
    for name in model.fused_settings():
        config.pop(name)
    copy = keras.Sequential.from_config(config)
    copy.set_weights(model.get_weights())
    return copy
