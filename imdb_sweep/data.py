"""Loads the IMDB reviews as padded word-id arrays, the way keras.datasets.imdb does.

Two sources give the same encoding:

- `keras`: `keras.datasets.imdb.load_data`, which downloads once (needs internet).
- `aclimdb`: the official aclImdb folder or its .tar.gz, read straight from the
  archive. Reviews are lower-cased, `<br />` removed, split into words; ids are
  word frequency ranks in the train split plus 3 (1 = start, 2 = out of
  vocabulary, 0 = padding), each review starts with id 1.

Tokenizing 50,000 reviews takes seconds, so the encoded (unpadded) reviews are
cached on disk keyed by the archive's digest and the tokenizer version; the
cheap steps (vocabulary cut at `num_words`, padding to `maxlen`, subsets) run
on every load, so sweeping them never re-tokenizes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

# Bump when the tokenizer or the cached layout changes, so old caches are ignored.
# 2: reviews cached in Keras's shuffled order.
ENCODING_VERSION = 2

START_ID = 1
OUT_OF_VOCABULARY_ID = 2
# Ids 0-3 are reserved, as in keras.datasets.imdb; word of rank r gets id r + 3.
INDEX_FROM = 3
# keras.datasets.imdb shuffles both splits with this seed; so do we, which also
# matters for validation_split: Keras takes the *last* 20% of the train arrays.
KERAS_SHUFFLE_SEED = 113

SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_REVIEW_PATH = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
ACLIMDB_ENV_VAR = "IMDB_SWEEP_ACLIMDB"
CACHE_ENV_VAR = "IMDB_SWEEP_CACHE_DIR"


class DataError(ValueError):
    """The configured dataset is missing, unreadable or not in the aclImdb layout."""


@dataclass(frozen=True)
class EncodedSplit:
    """Reviews of one split as a flat id array with per-review offsets (ragged)."""

    ids: np.ndarray  # int32, every review's ids back to back
    offsets: np.ndarray  # int64, review i is ids[offsets[i]:offsets[i + 1]]
    labels: np.ndarray  # int8, 0 = negative, 1 = positive

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> EncodedSplit:
        starts, ends = self.offsets[indices], self.offsets[indices + 1]
        lengths = ends - starts
        new_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        positions = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
        return EncodedSplit(self.ids[positions], new_offsets, self.labels[indices])


@dataclass(frozen=True)
class ImdbData:
    """Padded arrays ready for Keras, plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "aclimdb" or "keras"
    location: str  # archive/folder path, or the Keras dataset name
    source_digest: str  # sha256 of the archive (or folder listing, or Keras file)
    from_cache: bool

    @cached_property  # hashing 100 MB of arrays takes a noticeable fraction of a second
    def digest(self) -> str:
        """Digest of the arrays actually trained on: source plus every encoding choice."""
        hasher = hashlib.sha256(self.source_digest.encode())
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            hasher.update(str(array.shape).encode())
            hasher.update(np.ascontiguousarray(array).tobytes())
        return hasher.hexdigest()


# ---------------------------------------------------------------------------
# Source resolution and quick checks (run before any training or MLflow run)
# ---------------------------------------------------------------------------


def resolve_source(data_cfg: Any) -> tuple[str, Path | None]:
    """Return ("aclimdb", path) or ("keras", None) for `data.source`/`data.path`."""
    path = data_cfg.path or os.environ.get(ACLIMDB_ENV_VAR) or None
    if data_cfg.source == "keras":
        return "keras", None
    if data_cfg.source == "aclimdb" or path is not None:
        if path is None:
            raise DataError(
                f"data.path = None is not allowed with data.source = 'aclimdb': expected the "
                f"aclImdb folder or its .tar.gz (or set {ACLIMDB_ENV_VAR})"
            )
        return "aclimdb", Path(path).expanduser()
    return "keras", None


def check_data_source(data_cfg: Any) -> None:
    """Fail fast, with the key and value, when the configured data cannot be read."""
    source, path = resolve_source(data_cfg)
    if source == "keras":
        return
    assert path is not None
    if not path.exists():
        raise DataError(
            f"data.path = '{path}' does not exist: expected the aclImdb folder or its "
            f".tar.gz (set data.path=... or {ACLIMDB_ENV_VAR})"
        )
    if not os.access(path, os.R_OK):
        raise DataError(f"data.path = '{path}' is not readable by this user")
    if path.is_dir():
        missing = [
            f"{split}/{label}"
            for split in SPLITS
            for label in LABELS
            if not (_aclimdb_root(path) / split / label).is_dir()
        ]
        if missing:
            raise DataError(
                f"data.path = '{path}' is not in the aclImdb layout: missing folders "
                f"{', '.join(missing)} (expected aclImdb/{{train,test}}/{{pos,neg}}/*.txt)"
            )
    elif not tarfile.is_tarfile(path):
        raise DataError(
            f"data.path = '{path}' is neither a folder nor a readable tar archive: expected "
            "the aclImdb folder or aclImdb_v1.tar.gz"
        )


def _aclimdb_root(folder: Path) -> Path:
    """Accept both the aclImdb folder itself and the folder that contains it."""
    return folder / "aclImdb" if (folder / "aclImdb").is_dir() else folder


# ---------------------------------------------------------------------------
# Reading and encoding aclImdb
# ---------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Lower-case words of a review, with the `<br />` line breaks removed."""
    return _WORD.findall(text.lower().replace("<br />", " "))


def _iter_archive_reviews(path: Path) -> Iterator[tuple[str, str, int, str]]:
    """Yield (split, label, review id, text) straight from a .tar(.gz), no unpacking."""
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                match = _REVIEW_PATH.search(member.name)
                if not member.isfile() or match is None:
                    continue
                handle = archive.extractfile(member)
                assert handle is not None
                text = handle.read().decode("utf-8", errors="replace")
                yield match[1], match[2], int(match[3]), text
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"data.path = '{path}' could not be read as an archive: {error}") from error


def _iter_folder_reviews(path: Path) -> Iterator[tuple[str, str, int, str]]:
    root = _aclimdb_root(path)
    for split in SPLITS:
        for label in LABELS:
            for entry in os.scandir(root / split / label):
                match = _REVIEW_PATH.search(f"aclImdb/{split}/{label}/{entry.name}")
                if match is not None and entry.is_file():
                    text = Path(entry.path).read_text(encoding="utf-8", errors="replace")
                    yield split, label, int(match[3]), text


def read_aclimdb(path: Path) -> dict[str, list[tuple[int, str]]]:
    """Return {split: [(label, text), ...]} in a fixed order (label, then review id)."""
    reviews = _iter_folder_reviews(path) if path.is_dir() else _iter_archive_reviews(path)
    collected: dict[str, list[tuple[int, int, str]]] = {split: [] for split in SPLITS}
    for split, label, review_id, text in reviews:
        collected[split].append((LABELS[label], review_id, text))
    for split in SPLITS:
        counts = Counter(label for label, _, _ in collected[split])
        if counts[0] == 0 or counts[1] == 0:
            raise DataError(
                f"data.path = '{path}' is not in the aclImdb layout: found "
                f"{counts[1]} positive and {counts[0]} negative reviews under "
                f"aclImdb/{split}/ (expected aclImdb/{{train,test}}/{{pos,neg}}/<id>_<rating>.txt)"
            )
    return {
        split: [(label, text) for label, _, text in sorted(collected[split], key=lambda r: r[:2])]
        for split in SPLITS
    }


def encode_aclimdb(reviews: dict[str, list[tuple[int, str]]]) -> dict[str, EncodedSplit]:
    """Encode with frequency ranks of the train split, keeping the whole vocabulary."""
    tokens = {split: [tokenize(text) for _, text in reviews[split]] for split in SPLITS}
    counts = Counter(word for review in tokens["train"] for word in review)
    # Ties are broken alphabetically so the ids never depend on file order.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    word_ids = {word: rank + INDEX_FROM for rank, (word, _) in enumerate(ranked, start=1)}
    encoded = {}
    for split in SPLITS:
        sequences = [
            [START_ID] + [word_ids.get(word, OUT_OF_VOCABULARY_ID) for word in review]
            for review in tokens[split]
        ]
        labels = np.array([label for label, _ in reviews[split]], dtype=np.int8)
        encoded[split] = _ragged(sequences, labels)
    return encoded


def _ragged(sequences: list[list[int]], labels: np.ndarray) -> EncodedSplit:
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum([len(sequence) for sequence in sequences], out=offsets[1:])
    ids = np.fromiter(
        (word_id for sequence in sequences for word_id in sequence), dtype=np.int32,
        count=int(offsets[-1]),
    )
    return EncodedSplit(ids, offsets, labels)


# ---------------------------------------------------------------------------
# Digest and cache
# ---------------------------------------------------------------------------


def source_digest(path: Path) -> str:
    """sha256 of an archive's bytes, or of a folder's review listing (name, size, mtime)."""
    hasher = hashlib.sha256()
    if path.is_dir():
        root = _aclimdb_root(path)
        for split in SPLITS:
            for label in LABELS:
                for entry in sorted(os.scandir(root / split / label), key=lambda e: e.name):
                    stat = entry.stat()
                    hasher.update(f"{split}/{label}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        return "folder-" + hasher.hexdigest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def default_cache_dir(data_cfg: Any) -> Path:
    configured = data_cfg.cache_dir or os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "imdb_sweep"


def _cache_file(cache_dir: Path, digest: str) -> Path:
    return cache_dir / f"aclimdb-{digest[:32]}-v{ENCODING_VERSION}.npz"


def _save_cache(file: Path, encoded: dict[str, EncodedSplit]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, data in encoded.items():
        arrays.update({f"{split}_ids": data.ids, f"{split}_offsets": data.offsets,
                       f"{split}_labels": data.labels})
    # Write then rename: jobs running side by side never see half a cache file.
    with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".npz.tmp", delete=False) as tmp:
        np.savez(tmp, **arrays)
    os.replace(tmp.name, file)


def _load_cache(file: Path) -> dict[str, EncodedSplit] | None:
    try:
        with np.load(file) as arrays:
            return {
                split: EncodedSplit(arrays[f"{split}_ids"], arrays[f"{split}_offsets"],
                                    arrays[f"{split}_labels"])
                for split in SPLITS
            }
    except (OSError, KeyError, ValueError):
        return None  # A missing or damaged cache is rebuilt, never trusted.


def load_encoded_aclimdb(path: Path, cache_dir: Path) -> tuple[dict[str, EncodedSplit], str, bool]:
    """Encoded splits of an aclImdb archive/folder, its digest, and whether the cache served it."""
    digest = source_digest(path)
    file = _cache_file(cache_dir, digest)
    cached = _load_cache(file) if file.exists() else None
    if cached is not None:
        return cached, digest, True
    encoded = in_keras_order(encode_aclimdb(read_aclimdb(path)))
    try:
        _save_cache(file, encoded)
    except OSError:
        pass  # A read-only cache folder only costs speed next time.
    return encoded, digest, False


def _load_encoded_keras() -> tuple[dict[str, EncodedSplit], str]:
    import keras  # Imported here: only this source needs it, and it is slow to import.

    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data()
    file = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "imdb.npz"
    digest = source_digest(file) if file.exists() else "keras-imdb"
    encoded = {
        "train": _ragged([list(review) for review in x_train], np.asarray(y_train, np.int8)),
        "test": _ragged([list(review) for review in x_test], np.asarray(y_test, np.int8)),
    }
    return encoded, digest


# ---------------------------------------------------------------------------
# From encoded reviews to Keras-ready arrays
# ---------------------------------------------------------------------------


def limit_vocabulary(split: EncodedSplit, num_words: int) -> EncodedSplit:
    """Map ids >= num_words to the out-of-vocabulary id, as keras.datasets.imdb does."""
    ids = np.where(split.ids < num_words, split.ids, OUT_OF_VOCABULARY_ID).astype(np.int32)
    return EncodedSplit(ids, split.offsets, split.labels)


def pad_sequences(split: EncodedSplit, maxlen: int) -> np.ndarray:
    """Same result as keras.utils.pad_sequences(seqs, maxlen) with its defaults:
    int32, zeros in front of short reviews, long ones keep their last `maxlen` ids."""
    count = len(split)
    starts, ends = split.offsets[:-1], split.offsets[1:]
    kept = np.minimum(ends - starts, maxlen)
    rows = np.repeat(np.arange(count), kept)
    first_of_row = np.zeros(count, dtype=np.int64)
    np.cumsum(kept[:-1], out=first_of_row[1:])
    position_in_row = np.arange(int(kept.sum())) - np.repeat(first_of_row, kept)
    padded = np.zeros((count, maxlen), dtype=np.int32)
    padded[rows, maxlen - kept[rows] + position_in_row] = split.ids[
        ends[rows] - kept[rows] + position_in_row
    ]
    return padded


def in_keras_order(encoded: dict[str, EncodedSplit]) -> dict[str, EncodedSplit]:
    """Both splits shuffled as keras.datasets.imdb shuffles its download (seed 113,
    train first), so the aclImdb archive gives the same order as the Keras copy."""
    rng = np.random.RandomState(KERAS_SHUFFLE_SEED)
    return {split: encoded[split].take(keras_order(len(encoded[split]), rng)) for split in SPLITS}


def keras_order(count: int, rng: np.random.RandomState) -> np.ndarray:
    indices = np.arange(count)
    rng.shuffle(indices)
    return indices


def stratified_subset(labels: np.ndarray, limit: int, seed: int, key: str) -> np.ndarray:
    """Indices of `limit` reviews, half of each class, drawn with `seed`, in original order."""
    if limit > len(labels):
        raise DataError(f"{key} = {limit} is not allowed: the split has only {len(labels)} reviews")
    rng = np.random.default_rng(seed)
    negatives, positives = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    want_positive = limit // 2
    want_negative = limit - want_positive
    if want_positive > len(positives) or want_negative > len(negatives):
        raise DataError(
            f"{key} = {limit} is not allowed: a stratified subset needs {want_negative} negative "
            f"and {want_positive} positive reviews, the split has {len(negatives)} and {len(positives)}"
        )
    chosen = np.concatenate([
        rng.choice(negatives, want_negative, replace=False),
        rng.choice(positives, want_positive, replace=False),
    ])
    return np.sort(chosen)


def load_imdb(data_cfg: Any) -> ImdbData:
    """Load, encode (or read from cache), cut, pad and subset the IMDB reviews."""
    check_data_source(data_cfg)
    source, path = resolve_source(data_cfg)
    if source == "aclimdb":
        assert path is not None
        encoded, digest, from_cache = load_encoded_aclimdb(path, default_cache_dir(data_cfg))
        location = str(path.resolve())
    else:
        encoded, digest = _load_encoded_keras()
        from_cache, location = False, "keras.datasets.imdb"

    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, limit_key in (("train", "train_limit"), ("test", "test_limit")):
        data = encoded[split]
        limit = getattr(data_cfg, limit_key)
        if limit is not None:
            data = data.take(stratified_subset(data.labels, limit, data_cfg.subset_seed,
                                               f"data.{limit_key}"))
        data = limit_vocabulary(data, data_cfg.num_words)
        arrays[split] = (pad_sequences(data, data_cfg.maxlen), data.labels.astype(np.float32))

    return ImdbData(
        x_train=arrays["train"][0], y_train=arrays["train"][1],
        x_test=arrays["test"][0], y_test=arrays["test"][1],
        source=source, location=location, source_digest=digest, from_cache=from_cache,
    )
