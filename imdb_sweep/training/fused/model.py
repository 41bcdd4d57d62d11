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
"""

from __future__ import annotations

import keras
import tensorflow as tf

from imdb_sweep.config.choices import EMBEDDING_GRADIENTS
from imdb_sweep.training.fused import keras_internals
from imdb_sweep.training.fused.optimizers import dense_embedding_update


@keras.saving.register_keras_serializable(package="imdb_sweep")
class FusedStepsSequential(keras.Sequential):
    """A Sequential model whose train step takes a group of batches: `((x, count), y)`
    with x of shape (group, batch, ...), y of shape (group, batch, ...); the first
    `count` batches are trained on, one optimizer update each, in order."""

    def __init__(self, *args, embedding_gradients: str = "per_occurrence", **kwargs):
        super().__init__(*args, **kwargs)
        if embedding_gradients not in EMBEDDING_GRADIENTS:
            raise ValueError(f"embedding_gradients must be one of {EMBEDDING_GRADIENTS}, not {embedding_gradients!r}")
        self.embedding_gradients = embedding_gradients

    def get_config(self) -> dict:
        return {**super().get_config(), "embedding_gradients": self.embedding_gradients}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        embedding_gradients = config.pop("embedding_gradients", "per_occurrence")
        model = super().from_config(config, custom_objects=custom_objects)
        model.embedding_gradients = embedding_gradients
        return model

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
            y_pred = self(x, training=True)
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


def portable_model(model: keras.Model) -> keras.Model:
    """`model` itself, or for a FusedStepsSequential a stock keras.Sequential with
    the same layers and weights: what gets logged, loadable without imdb_sweep."""
    if not isinstance(model, FusedStepsSequential):
        return model
    config = model.get_config()
    config.pop("embedding_gradients")
    copy = keras.Sequential.from_config(config)
    copy.set_weights(model.get_weights())
    return copy
