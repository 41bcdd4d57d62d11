"""The IMDB reviews as padded word-id arrays: `load_imdb(cfg.data)`.

    source.py    where the reviews come from; quick checks before any training
    aclimdb.py   reading and encoding the aclImdb archive or folder
    text.py      review text to word ids: the one encoder of training and the text model
    cache.py     the on-disk cache of encoded reviews
    arrays.py    vocabulary cut, padding, Keras's order, subsets
    loader.py    load_imdb, and reuse of the previous load in one process
"""

from imdb_sweep.data.loader import ImdbData, PreviousLoad, load_imdb
from imdb_sweep.data.source import DataError, check_data_source, resolve_source

__all__ = ["DataError", "ImdbData", "PreviousLoad", "check_data_source", "load_imdb", "resolve_source"]
