"""The values the config offers for its named choices, one tuple each: the
validator checks against them and the code that implements them reads them
here, so the two never disagree."""

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "softplus", "linear")
LOSSES = ("binary_crossentropy", "mse")
OPTIMIZERS = ("rmsprop", "adam", "sgd", "adagrad", "nadam")
# What an optimizer's squared-gradient state adds for a word seen several times
# in one batch (imdb_sweep/training/fused/optimizers.py). It changes the trained numbers.
EMBEDDING_GRADIENTS = ("per_occurrence", "summed")
# Where a Dropout layer's training masks come from in the fused loop
# (imdb_sweep/training/fused/dropout.py). It changes the trained numbers.
DROPOUT_MASKS = ("hashed", "keras")
DATA_SOURCES = ("auto", "keras", "aclimdb")
RERUN = ("missing", "all")
# tracking.promote: when a registered version takes the champion alias (report/registry.py).
PROMOTE = ("when_better", "always")
JIT_COMPILE = ("auto", True, False)
VERBOSITY = (0, 1, 2)
# model=rnn: model.cell.
RNN_CELLS = ("lstm", "gru")
# model=bag_of_ngrams: model.mode, each n-gram's value in the vector.
NGRAM_MODES = ("multi_hot", "tf_idf")
# model.family when a config has none (configs from before the families).
DEFAULT_FAMILY = "dense"
