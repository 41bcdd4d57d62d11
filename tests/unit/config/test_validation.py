"""Bad values fail with the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from imdb_sweep.config.validation import ConfigError, validate_config
from imdb_sweep.data import DataError, check_data_source

BAD_VALUES = [
    ("model.activation=relux", "model.activation", "'relux'", "relu, tanh"),
    ("train.loss=hinge", "train.loss", "'hinge'", "binary_crossentropy, mse"),
    ("train.optimizer=adamw", "train.optimizer", "'adamw'", "rmsprop, adam"),
    ("model.units=0", "model.units", "0", "an integer >= 1"),
    ("model.units=-4", "model.units", "-4", "an integer >= 1"),
    ("model.units=3.5", "model.units", "3.5", "an integer >= 1"),
    ("model.hidden_layers=0", "model.hidden_layers", "0", "an integer >= 1"),
    ("model.dropout=1.0", "model.dropout", "1.0", "[0, 1)"),
    ("model.dropout=-0.1", "model.dropout", "-0.1", "[0, 1)"),
    ("model.l2=-0.001", "model.l2", "-0.001", ">= 0"),
    ("train.epochs=0", "train.epochs", "0", "an integer >= 1"),
    ("train.batch_size=0", "train.batch_size", "0", "an integer >= 1"),
    ("train.validation_split=0", "train.validation_split", "0", "(0, 1)"),
    ("train.validation_split=1.0", "train.validation_split", "1.0", "(0, 1)"),
    ("train.learning_rate=0", "train.learning_rate", "0", "> 0"),
    ("data.num_words=3", "data.num_words", "3", "an integer >= 4"),
    ("data.maxlen=0", "data.maxlen", "0", "an integer >= 1"),
    ("data.source=hub", "data.source", "'hub'", "auto, keras, aclimdb"),
    ("data.train_limit=1", "data.train_limit", "1", "null or an integer >= 2"),
    ("tracking.experiment=''", "tracking.experiment", "''", "non-empty"),
    ("train.embedding_gradients=dense", "train.embedding_gradients", "'dense'", "per_occurrence, summed"),
    ("train.dropout_masks=philox", "train.dropout_masks", "'philox'", "hashed, keras"),
    ("runtime.keep_freed_memory=yes", "runtime.keep_freed_memory", "'yes'", "true or false"),
]


def test_the_default_config_is_valid(compose_config):
    validate_config(compose_config())


@pytest.mark.parametrize(("override", "key", "shown_value", "allowed"), BAD_VALUES)
def test_bad_value_names_key_value_and_what_is_allowed(compose_config, override, key, shown_value, allowed):
    with pytest.raises(ConfigError) as caught:
        validate_config(compose_config(override))
    message = str(caught.value)
    assert f"{key} = {shown_value}" in message
    assert allowed in message
    assert len(caught.value.problems) == 1


def test_all_problems_are_reported_together(compose_config):
    with pytest.raises(ConfigError) as caught:
        validate_config(compose_config("model.units=0", "model.activation=nope", "train.epochs=-1"))
    assert len(caught.value.problems) == 3


def test_aclimdb_source_without_a_path_is_refused(compose_config):
    with pytest.raises(ConfigError, match="data.path = None .*data.source = 'aclimdb'"):
        validate_config(compose_config("data.source=aclimdb"))


def test_missing_data_path_is_named(compose_config, tmp_path):
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(DataError, match=f"data.path = '{missing}' does not exist"):
        check_data_source(compose_config(f"data.path={missing}").data)


def test_a_file_that_is_not_an_archive_is_refused(compose_config, tmp_path):
    bogus = tmp_path / "reviews.tar.gz"
    bogus.write_bytes(b"this is not a tar archive at all" * 100)
    with pytest.raises(DataError, match="neither a folder nor a readable tar archive"):
        check_data_source(compose_config(f"data.path={bogus}").data)


def test_a_folder_without_the_aclimdb_layout_is_refused(compose_config, tmp_path):
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    with pytest.raises(DataError, match="missing folders train/neg, test/neg, test/pos"):
        check_data_source(compose_config(f"data.path={tmp_path}").data)
