"""Reads the official aclImdb folder or its .tar.gz (straight from the archive)
and encodes it as keras.datasets.imdb is encoded: lower-cased words, `<br />`
removed, ids by frequency rank in the train split, 1 = start, 2 = out of
vocabulary, words from 3 on."""

from __future__ import annotations

import os
import re
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from imdb_sweep.data.encoding import SPLITS, EncodedSplit, ragged
from imdb_sweep.data.source import LABELS, DataError, aclimdb_root
from imdb_sweep.data.text import ranked_words, review_ids, tokenize, word_ids

__all__ = ["encode_aclimdb", "read_aclimdb"]

_REVIEW_PATH = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


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
    root = aclimdb_root(path)
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


def encode_aclimdb(reviews: dict[str, list[tuple[int, str]]]) -> tuple[dict[str, EncodedSplit], list[str]]:
    """Encode with frequency ranks of the train split, keeping the whole vocabulary;
    return the encoded splits and the train split's words by rank (the vocabulary)."""
    tokens = {split: [tokenize(text) for _, text in reviews[split]] for split in SPLITS}
    words_by_rank = ranked_words(tokens["train"])
    vocabulary = word_ids(words_by_rank)
    encoded = {}
    for split in SPLITS:
        sequences = [review_ids(review, vocabulary) for review in tokens[split]]
        labels = np.array([label for label, _ in reviews[split]], dtype=np.int8)
        encoded[split] = ragged(sequences, labels)
    return encoded, words_by_rank
