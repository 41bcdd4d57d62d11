"""The model families beyond `dense` (model=conv1d|rnn|bag_of_ngrams|transformer|custom),
one module each, every one a `build(model_config, *, num_words, maxlen) -> keras.Model`:
uncompiled, from (batch, maxlen) int32 word ids to (batch, 1) sigmoid probabilities.

    conv1d.py          Embedding -> Conv1D/MaxPooling1D blocks -> global max pooling -> Dense head
    rnn.py             Embedding(mask_zero) -> [Bidirectional] LSTM or GRU -> Dense head
    bag_of_ngrams.py   multi-hot or TF-IDF n-gram vector (computed in the model) -> Dense head
    transformer.py     token + position embedding -> encoder blocks -> average pooling -> head
    custom.py          the user's own builder (model.builder=package.module:function), checked
    layers.py          the layers Keras lacks (n-gram vector, token + position embedding)
    parts.py           the input and output every family shares

The `dense` family's builder and its fused fast path stay in imdb_sweep/training/.
Nothing here imports Keras at import time: the logged text model carries this
folder and imports layers.py only where its model uses those layers.
"""

from __future__ import annotations

import importlib
from typing import Any

# model.family -> the module that builds it.
BUILDERS = {
    "conv1d": "imdb_sweep.models.conv1d",
    "rnn": "imdb_sweep.models.rnn",
    "bag_of_ngrams": "imdb_sweep.models.bag_of_ngrams",
    "transformer": "imdb_sweep.models.transformer",
    "custom": "imdb_sweep.models.custom",
}

# Whether XLA compiles each family's training step on CPUs, where Keras's "auto"
# leaves it off (runtime.jit_compile=auto; imdb_sweep/training/model.py): on where it
# made the family's epochs faster than Keras's own fit, off where it made them slower or
# gained nothing (benchmarks/families.py; the figures are in benchmarks/README.md). The
# dense family's rule is its own (fused loop).
XLA_ON_CPU = {"conv1d": False, "rnn": True, "bag_of_ngrams": False, "transformer": False}

# Reviews per validation and test batch at most, where runtime.evaluation_batch_size's
# large batches cost more than they save: a transformer's attention holds batch x maxlen
# x maxlen x heads scores (1000 x 500 x 500 x 2 floats, 2 GB); 64 keeps them small
# (benchmarks/families.py; the figures are in benchmarks/README.md).
EVALUATION_BATCH_LIMIT = {"transformer": 64}


def evaluation_batch_size(cfg: Any) -> int:
    """cfg.runtime.evaluation_batch_size, within cfg.model's family's EVALUATION_BATCH_LIMIT."""
    requested = int(cfg.runtime.evaluation_batch_size)
    return min(requested, EVALUATION_BATCH_LIMIT.get(family_of(cfg.model), requested))


def family_of(model_config: Any) -> str:
    """`model.family`; "dense" for a config from before the families."""
    return str(model_config.get("family") or "dense")


def build(model_config: Any, *, num_words: int, maxlen: int) -> Any:
    """The uncompiled Keras model of `model_config`'s family (not dense's)."""
    family = family_of(model_config)
    if family not in BUILDERS:
        raise ValueError(f"model.family = {family!r} has no builder here: expected one of {', '.join(BUILDERS)}")
    return importlib.import_module(BUILDERS[family]).build(model_config, num_words=num_words, maxlen=maxlen)


def import_layers(model_config: Any) -> None:
    """Make the layers a saved model of this family may hold known to Keras before it
    loads one (a checkpoint to resume): ours, and a custom builder's module's."""
    importlib.import_module("imdb_sweep.models.layers")
    if family_of(model_config) == "custom":
        importlib.import_module(str(model_config.builder).partition(":")[0])


def prepare_for_training(model: Any, x_fit: Any) -> None:
    """What a model learns from the training split before fitting (the TF-IDF
    weights of an n-gram vector): any layer with an `adapt_to_word_ids` method."""
    from imdb_sweep.serving.bundle import nested_layers  # the one walk over a model's layers

    for layer in nested_layers(model):
        if hasattr(layer, "adapt_to_word_ids"):
            layer.adapt_to_word_ids(x_fit)

