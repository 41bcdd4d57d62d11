"""An example of your own model for imdb_sweep (README, "Your own model"):

    python -m imdb_sweep model=custom model.builder=examples.my_model:build +model.width=32
    python -m imdb_sweep -m model=custom model.builder=examples.my_model:build \
        hydra/sweeper=imdb_optuna '+model.width=choice(8,16,32)'

imdb_sweep calls `build` with num_words and maxlen and every other key under `model.`
(here width and kernel_size), compiles the model with train.* and trains, tracks,
searches, registers and serves it as any of its own.
"""

import keras


def build(num_words: int, maxlen: int, width: int = 32, kernel_size: int = 5) -> keras.Model:
    """A small convnet: (batch, maxlen) word ids -> (batch, 1) probability, uncompiled."""
    word_ids = keras.Input(shape=(maxlen,), dtype="int32")
    features = keras.layers.Embedding(num_words, width)(word_ids)
    features = keras.layers.Conv1D(width, kernel_size, padding="same", activation="relu")(features)
    features = keras.layers.GlobalMaxPooling1D()(features)
    probability = keras.layers.Dense(1, activation="sigmoid")(features)
    return keras.Model(word_ids, probability, name="my_model")
