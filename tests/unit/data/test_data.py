"""Encoding, padding, caching and subsets on a tiny generated aclImdb archive."""

from __future__ import annotations

import gzip
import os
import re
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from imdb_sweep.data import DataError, PreviousLoad, load_imdb, source
from imdb_sweep.data import loader as loader_module
from imdb_sweep.data.aclimdb import read_aclimdb
from imdb_sweep.data.arrays import KERAS_SHUFFLE_SEED, keras_order, pad_sequences, stratified_subset
from imdb_sweep.data.encoding import EncodedSplit
from imdb_sweep.data.text import encode_texts, tokenize
from tests.helpers.archives import write_aclimdb


def data_cfg(path: Path, cache_dir: Path, **changes):
    base = dict(source="auto", path=str(path), num_words=10000, maxlen=60, train_limit=None,
                test_limit=None, subset_seed=0, cache_dir=str(cache_dir))
    return OmegaConf.create({**base, **changes})


def test_tokenize_lowercases_and_drops_line_breaks():
    assert tokenize("Great film.<br /><br />I LOVED it, didn't you?") == [
        "great", "film", "i", "loved", "it", "didn't", "you",
    ]


def test_ids_are_train_frequency_ranks_plus_three(tiny_archive, tmp_path):
    reviews = read_aclimdb(tiny_archive)
    counts = Counter(word for _, text in reviews["train"] for word in tokenize(text))
    ranking = sorted(counts, key=lambda word: (-counts[word], word))
    loaded = load_imdb(data_cfg(tiny_archive, tmp_path, maxlen=2000))

    most_frequent_id = ranking.index(ranking[0]) + 1 + 3
    assert most_frequent_id == 4
    # Every review starts with the start id 1, after the padding zeros.
    for row in loaded.x_train:
        assert row[np.flatnonzero(row)[0]] == 1
    ids_in_train = set(np.unique(loaded.x_train)) - {0, 1}
    assert ids_in_train == set(range(4, 4 + len(ranking)))
    assert 3 not in set(np.unique(loaded.x_test))


def test_encode_texts_turns_the_raw_test_reviews_into_the_loaded_test_arrays(tiny_archive, tmp_path):
    # The logged text model encodes with encode_texts; training read these arrays.
    # num_words and maxlen small enough to cut the vocabulary and truncate reviews.
    loaded = load_imdb(data_cfg(tiny_archive, tmp_path, num_words=20, maxlen=12))
    reviews = read_aclimdb(tiny_archive)
    rng = np.random.RandomState(KERAS_SHUFFLE_SEED)  # the order load_imdb gives: train, then test
    keras_order(len(reviews["train"]), rng)
    texts = [reviews["test"][index][1] for index in keras_order(len(reviews["test"]), rng)]
    encoded = encode_texts(texts, loaded.vocabulary, num_words=20, maxlen=12)
    assert encoded.dtype == np.int32
    np.testing.assert_array_equal(encoded, loaded.x_test)


def test_the_vocabulary_holds_the_words_below_num_words_and_survives_the_cache(tiny_archive, tmp_path):
    reviews = read_aclimdb(tiny_archive)
    counts = Counter(word for _, text in reviews["train"] for word in tokenize(text))
    ranking = sorted(counts, key=lambda word: (-counts[word], word))
    first = load_imdb(data_cfg(tiny_archive, tmp_path, num_words=20))
    assert first.vocabulary == {word: rank + 3 for rank, word in enumerate(ranking[:16], start=1)}
    assert max(first.vocabulary.values()) == 19
    again = load_imdb(data_cfg(tiny_archive, tmp_path, num_words=20))
    assert again.from_cache and again.vocabulary == first.vocabulary
    assert load_imdb(data_cfg(tiny_archive, tmp_path)).vocabulary == {
        word: rank + 3 for rank, word in enumerate(ranking, start=1)}


def test_a_word_seen_only_in_test_is_out_of_vocabulary(tiny_archive, tmp_path):
    reviews = read_aclimdb(tiny_archive)
    loaded = load_imdb(data_cfg(tiny_archive, tmp_path, maxlen=2000))
    assert any("unseenword" in text for _, text in reviews["test"])
    assert (loaded.x_test == 2).sum() >= 1
    assert (loaded.x_train == 2).sum() == 0


def test_num_words_maps_rare_words_to_the_out_of_vocabulary_id(tiny_archive, tmp_path):
    loaded = load_imdb(data_cfg(tiny_archive, tmp_path, num_words=8, maxlen=2000))
    assert loaded.x_train.max() == 7
    assert set(np.unique(loaded.x_train)) <= {0, 1, 2, 4, 5, 6, 7}
    assert (loaded.x_train == 2).sum() > 0


def test_padding_matches_keras_pad_sequences():
    import keras

    rng = np.random.default_rng(0)
    sequences = [list(rng.integers(1, 100, size=length)) for length in (0, 1, 5, 12, 30)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])])
    split = EncodedSplit(np.array([i for s in sequences for i in s], np.int32), offsets,
                         np.zeros(len(sequences), np.int8))
    for maxlen in (1, 7, 12, 40):
        expected = keras.utils.pad_sequences(sequences, maxlen=maxlen)
        np.testing.assert_array_equal(pad_sequences(split, maxlen), expected)
        assert pad_sequences(split, maxlen).dtype == expected.dtype


def test_folder_and_archive_give_the_same_arrays(tmp_path):
    archive = write_aclimdb(tmp_path / "a.tar.gz", seed=3)
    folder = write_aclimdb(tmp_path / "folder", seed=3, as_archive=False)
    from_archive = load_imdb(data_cfg(archive, tmp_path / "c1"))
    from_folder = load_imdb(data_cfg(folder, tmp_path / "c2"))
    np.testing.assert_array_equal(from_archive.x_train, from_folder.x_train)
    np.testing.assert_array_equal(from_archive.y_test, from_folder.y_test)


def test_both_splits_are_shuffled_and_balanced(tiny_archive, tmp_path):
    loaded = load_imdb(data_cfg(tiny_archive, tmp_path))
    assert loaded.y_train.mean() == 0.5
    # Unshuffled, the last 20% (Keras's validation split) would be one class only.
    tail = loaded.y_train[-len(loaded.y_train) // 5:]
    assert 0 < tail.mean() < 1


def test_second_load_comes_from_the_cache_without_reading_reviews(tiny_archive, tmp_path, monkeypatch):
    first = load_imdb(data_cfg(tiny_archive, tmp_path))
    assert not first.from_cache

    def fail(*_args, **_kwargs):
        raise AssertionError("the archive was tokenized again")

    monkeypatch.setattr(loader_module, "read_aclimdb", fail)
    second = load_imdb(data_cfg(tiny_archive, tmp_path, maxlen=30, num_words=10))
    assert second.from_cache
    again = load_imdb(data_cfg(tiny_archive, tmp_path))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert first.digest == again.digest != second.digest


def test_a_changed_archive_is_encoded_again(tmp_path):
    archive = write_aclimdb(tmp_path / "a.tar.gz", seed=1)
    first = load_imdb(data_cfg(archive, tmp_path / "cache"))
    write_aclimdb(archive, seed=2)
    second = load_imdb(data_cfg(archive, tmp_path / "cache"))
    assert not second.from_cache
    assert first.source_digest != second.source_digest
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_a_damaged_cache_file_is_rebuilt(tiny_archive, tmp_path):
    load_imdb(data_cfg(tiny_archive, tmp_path))
    (cache_file,) = tmp_path.glob("*.npz")
    cache_file.write_bytes(b"garbage")
    reloaded = load_imdb(data_cfg(tiny_archive, tmp_path))
    assert not reloaded.from_cache
    assert load_imdb(data_cfg(tiny_archive, tmp_path)).from_cache


def test_subsets_are_stratified_seeded_and_independent_of_the_seed_key(tiny_archive, tmp_path):
    full = load_imdb(data_cfg(tiny_archive, tmp_path))
    subset = load_imdb(data_cfg(tiny_archive, tmp_path, train_limit=10, test_limit=6))
    assert subset.x_train.shape == (10, 60) and subset.x_test.shape == (6, 60)
    assert subset.y_train.sum() == 5 and subset.y_test.sum() == 3
    again = load_imdb(data_cfg(tiny_archive, tmp_path, train_limit=10, test_limit=6))
    np.testing.assert_array_equal(subset.x_train, again.x_train)
    other = load_imdb(data_cfg(tiny_archive, tmp_path, train_limit=10, subset_seed=1))
    assert not np.array_equal(subset.x_train, other.x_train)
    # Every subset row is a row of the full split.
    full_rows = {row.tobytes() for row in full.x_train}
    assert all(row.tobytes() in full_rows for row in subset.x_train)


def test_an_odd_limit_gives_the_extra_review_to_the_negatives():
    labels = np.array([0, 1] * 10, dtype=np.int8)
    chosen = stratified_subset(labels, 7, seed=0, key="data.train_limit")
    assert len(chosen) == 7 and labels[chosen].sum() == 3
    assert list(chosen) == sorted(chosen)


def test_a_limit_larger_than_the_split_is_refused(tiny_archive, tmp_path):
    with pytest.raises(DataError, match=r"data.train_limit = 1000 is not allowed: the split has only 40"):
        load_imdb(data_cfg(tiny_archive, tmp_path, train_limit=1000))


def test_a_truncated_archive_is_reported_with_its_path(tiny_archive, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(tiny_archive.read_bytes()[: tiny_archive.stat().st_size // 2])
    with pytest.raises(DataError, match=re.escape(f"data.path = '{truncated}'")):
        load_imdb(data_cfg(truncated, tmp_path / "cache"))
    assert not list((tmp_path / "cache").glob("*.npz")) if (tmp_path / "cache").exists() else True


def test_an_archive_without_reviews_is_not_the_aclimdb_layout(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        note = tmp_path / "note.txt"
        note.write_text("hello")
        tar.add(note, arcname="something/else.txt")
    with pytest.raises(DataError, match="is not in the aclImdb layout: found 0 positive and 0 negative"):
        load_imdb(data_cfg(archive, tmp_path / "cache"))


def test_a_plain_gzip_that_is_not_a_tar_is_refused(tmp_path):
    fake = tmp_path / "fake.tar.gz"
    with gzip.open(fake, "wb") as handle:
        handle.write(os.urandom(2048))
    with pytest.raises(DataError, match=re.escape(f"data.path = '{fake}'")):
        load_imdb(data_cfg(fake, tmp_path / "cache"))


@pytest.mark.slow
def test_the_real_archive_has_the_official_shape(real_archive, tmp_path):
    loaded = load_imdb(data_cfg(real_archive, tmp_path, maxlen=500))
    assert loaded.x_train.shape == (25000, 500) and loaded.x_test.shape == (25000, 500)
    assert loaded.y_train.mean() == 0.5 and loaded.y_test.mean() == 0.5
    assert loaded.x_train.max() == 9999
    # With the top 10,000 words kept, a few percent of the words are out of
    # vocabulary, as with keras.datasets.imdb.
    words = loaded.x_train[loaded.x_train > 1]
    assert 0.01 < (words == 2).mean() < 0.08


def test_jobs_of_one_process_share_the_data_until_the_archive_changes(tiny_config, tmp_path):
    previous_load = PreviousLoad()
    _load_data = previous_load.load
    archive = write_aclimdb(tmp_path / "own.tar.gz")
    cfg = tiny_config(f"data.path={archive}")
    first = _load_data(cfg.data)
    assert _load_data(tiny_config(f"data.path={archive}").data) is first  # the next job of a multirun
    other_length = _load_data(tiny_config(f"data.path={archive}", "data.maxlen=20").data)
    assert other_length is not first and other_length.x_train.shape[1] == 20

    write_aclimdb(archive, reviews_per_class=7)  # rewritten in place: new size and time
    changed = _load_data(cfg.data)
    assert changed is not first and len(changed.x_train) != len(first.x_train)


# -- no data at all: keras.datasets.imdb neither cached nor downloadable -----------------

def unreachable_internet(monkeypatch: pytest.MonkeyPatch, keras_home: Path) -> None:
    """An empty Keras cache and every HTTPS request sent to a closed local port: the
    download fails here as it does on a machine without internet, whatever this one has."""
    monkeypatch.delenv("IMDB_SWEEP_ACLIMDB", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    source._keras_download_problem.cache_clear()


def test_no_archive_and_no_download_names_both_settings(tmp_path, monkeypatch):
    unreachable_internet(monkeypatch, tmp_path / "keras")
    config = OmegaConf.create({"source": "auto", "path": None})
    with pytest.raises(DataError) as raised:
        source.check_data_source(config)
    message = str(raised.value)
    assert message.startswith("no IMDB reviews to train on: data.source = 'auto' found no archive")
    assert "IMDB_SWEEP_ACLIMDB" in message and "data.path" in message
    assert "keras.datasets.imdb cannot be downloaded" in message
    source._keras_download_problem.cache_clear()


def test_a_keras_cache_that_has_the_files_needs_no_network(tmp_path, monkeypatch):
    unreachable_internet(monkeypatch, tmp_path / "keras")
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    for name in source.KERAS_DATASET_FILES:
        (tmp_path / "keras" / "datasets" / name).write_bytes(b"cached")
    source.check_data_source(OmegaConf.create({"source": "keras", "path": None}))  # no error
    source._keras_download_problem.cache_clear()
