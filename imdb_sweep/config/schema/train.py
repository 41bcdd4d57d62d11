"""`train`: how a job fits the model; every key here changes the trained numbers (conf/train/)."""

from __future__ import annotations

from dataclasses import dataclass

from imdb_sweep.config import choices
from imdb_sweep.config.schema.fields import integer, number, one_of


@dataclass
class TrainConfig:
    optimizer: str = one_of("rmsprop", choices.OPTIMIZERS, help="the Keras optimizer")
    learning_rate: float = number(0.001, above=0, help="the optimizer's learning rate (0.001: RMSprop's default)")
    loss: str = one_of("binary_crossentropy", choices.LOSSES, help="the loss to minimize")
    epochs: int = integer(10, minimum=1, help="epochs to train, as in `model.fit`")
    batch_size: int = integer(32, minimum=1, help="reviews per training batch, as in `model.fit`")
    validation_split: float = number(0.2, above=0, below=1,
                                     help="share of the train split held out for validation (the last reviews, "
                                          "as Keras takes them)")
    embedding_gradients: str = one_of(
        "per_occurrence", choices.EMBEDDING_GRADIENTS,
        help="a word seen several times in a batch adds each occurrence's squared gradient to the optimizer's "
             "state, as TensorFlow's Keras does; `summed` as on JAX/PyTorch (other numbers, except for SGD)")
    dropout_masks: str = one_of(
        "hashed", choices.DROPOUT_MASKS,
        help="Dropout's masks computed in the fused XLA loop; `keras` for Keras's Dropout layer and loop "
             "(slower on CPUs; other numbers)")
    early_stopping_patience: int | None = integer(
        None, minimum=1, optional=True,
        help="stop once `val_accuracy` has not improved for this many epochs, keeping the best epoch's weights "
             "(Keras's EarlyStopping); null: every epoch runs")
