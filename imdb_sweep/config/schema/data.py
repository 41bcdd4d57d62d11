"""`data`: where the reviews come from and how they are encoded (conf/data/)."""

from __future__ import annotations

from dataclasses import dataclass

from imdb_sweep.config import choices
from imdb_sweep.config.schema.fields import integer, one_of, text


@dataclass
class DataConfig:
    source: str = one_of("auto", choices.DATA_SOURCES,
                         help="`aclimdb` (folder or .tar.gz at `path`), `keras` (downloads once), or `auto` "
                              "(aclimdb when a path is set)")
    path: str | None = text("${oc.env:IMDB_SWEEP_ACLIMDB,null}", optional=True,
                            allowed="a path to the aclImdb folder or its .tar.gz",
                            help="the aclImdb folder or its .tar.gz")
    # Ids 0-3 are reserved (padding, start, out-of-vocabulary, unused).
    num_words: int = integer(10000, minimum=4, help="keep the most frequent words of the train split")
    maxlen: int = integer(500, minimum=1, help="pad or truncate every review to this many word ids")
    train_limit: int | None = integer(None, minimum=2, optional=True,
                                      help="a stratified, seeded subset of the train split (null: all of it)")
    test_limit: int | None = integer(None, minimum=2, optional=True,
                                     help="a stratified, seeded subset of the test split (null: all of it)")
    subset_seed: int = integer(0, minimum=0,
                               help="seed of the subsets' draw, apart from `seed` so that sweeping seeds keeps "
                                    "the same reviews")
    cache_dir: str | None = text(None, optional=True, allowed="a folder",
                                 help="where the encoded reviews are cached (null: `$IMDB_SWEEP_CACHE_DIR`, "
                                      "else `~/.cache/imdb_sweep`)")
