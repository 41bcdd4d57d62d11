"""The schema of each model family beyond `dense` (model=conv1d|rnn|bag_of_ngrams|
transformer|custom): one dataclass per family, `family` first, every key with its rule
and its one-line help. models.py registers them in MODEL_FAMILIES; the builders that
read them are in imdb_sweep/models/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from imdb_sweep.config import choices
from imdb_sweep.config.schema.fields import boolean, integer, number, one_of, text

# `package.module:function`, as Python's entry points spell an object.
BUILDER_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*"


@dataclass
class Conv1DModelConfig:
    TITLE: ClassVar[str] = "model.family = 'conv1d'"
    family: str = text("conv1d", help="the architecture family (`model=NAME` selects one with its keys)")
    embedding_dim: int = integer(32, minimum=1, help="Width of each word's embedding")
    blocks: int = integer(2, minimum=1, help="Conv1D layers, a MaxPooling1D between each two")
    filters: int = integer(32, minimum=1, help="Filters of each Conv1D layer")
    kernel_size: int = integer(7, minimum=1, help="Words each filter sees at once")
    pool_size: int = integer(5, minimum=1, help="Pooling window between two Conv1D layers")
    units: int = integer(32, minimum=1, help="Units of the Dense layer after global max pooling")
    activation: str = one_of("relu", choices.ACTIVATIONS, help="Activation of the Conv1D and hidden Dense layers")
    dropout: float = number(0.0, minimum=0, below=1, help="Dropout rate before the output layer; 0 leaves it out")


@dataclass
class RnnModelConfig:
    TITLE: ClassVar[str] = "model.family = 'rnn'"
    family: str = text("rnn", help="the architecture family (`model=NAME` selects one with its keys)")
    embedding_dim: int = integer(32, minimum=1, help="Width of each word's embedding (padding masked)")
    cell: str = one_of("lstm", choices.RNN_CELLS, help="The recurrent layer: LSTM or GRU")
    units: int = integer(32, minimum=1, help="Units of the recurrent layer (each direction)")
    bidirectional: bool = boolean(True, help="Read each review both ways and concatenate")
    dropout: float = number(0.5, minimum=0, below=1, help="Dropout rate before the output layer; 0 leaves it out")


@dataclass
class BagOfNgramsModelConfig:
    TITLE: ClassVar[str] = "model.family = 'bag_of_ngrams'"
    family: str = text("bag_of_ngrams", help="the architecture family (`model=NAME` selects one with its keys)")
    ngrams: int = integer(2, minimum=1, maximum=2, help="1: unigrams; 2: unigrams and bigrams")
    mode: str = one_of("multi_hot", choices.NGRAM_MODES, help="Each n-gram's value: present (1/0) or TF-IDF")
    bigram_buckets: int = integer(20000, minimum=1, help="Hashed slots for bigrams (beside one per word)")
    units: int = integer(16, minimum=1, help="Units of the hidden Dense layer")
    activation: str = one_of("relu", choices.ACTIVATIONS, help="Activation of the hidden Dense layer")
    dropout: float = number(0.5, minimum=0, below=1, help="Dropout rate before the output layer; 0 leaves it out")


@dataclass
class TransformerModelConfig:
    TITLE: ClassVar[str] = "model.family = 'transformer'"
    family: str = text("transformer", help="the architecture family (`model=NAME` selects one with its keys)")
    embedding_dim: int = integer(32, minimum=1, help="Width of token and position embeddings (padding masked)")
    heads: int = integer(2, minimum=1, help="Attention heads of each encoder block")
    feed_forward_units: int = integer(32, minimum=1, help="Hidden units of each block's feed-forward part")
    blocks: int = integer(1, minimum=1, help="Encoder blocks")
    dropout: float = number(0.5, minimum=0, below=1, help="Dropout rate before the output layer; 0 leaves it out")


@dataclass
class CustomModelConfig:
    """The user's own keys (`+model.width=64`) are passed to the builder as they are:
    the builder's signature is their schema (imdb_sweep/models/custom.py checks it)."""

    # The user's own keys are the builder's to check, not the schema's (config/validation.py).
    ACCEPTS_OTHER_KEYS: ClassVar[bool] = True

    TITLE: ClassVar[str] = "model.family = 'custom'"
    family: str = text("custom", help="the architecture family (`model=NAME` selects one with its keys)")
    builder: str | None = text(None, pattern=BUILDER_PATTERN, allowed="package.module:function",
                        help="Your function, package.module:function, returning an uncompiled Keras model")


FAMILIES: dict[str, type] = {
    "conv1d": Conv1DModelConfig,
    "rnn": RnnModelConfig,
    "bag_of_ngrams": BagOfNgramsModelConfig,
    "transformer": TransformerModelConfig,
    "custom": CustomModelConfig,
}
