"""Model families (model=conv1d|rnn|bag_of_ngrams|transformer): each family's schema and
its conf/model file agree, bad values are refused up front naming the key, each model
takes padded word ids to one probability, the padding is masked where it must be, and
each family trains through the real job and records model.family."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from imdb_sweep.config.schema.models import MODEL_FAMILIES
from imdb_sweep.config.validation import ConfigError, validate_config
from imdb_sweep.job import run_job
from imdb_sweep.models.layers import NgramVector
from imdb_sweep.training.model import build_compiled_model, uses_fused_steps
from tests.helpers.families import FAMILIES, SMALL

# Small enough that each family trains an epoch of the tiny archive in about a second.


@pytest.mark.parametrize("family", sorted(MODEL_FAMILIES))
def test_each_family_file_holds_its_schemas_keys_and_defaults(compose_config, family):
    model = OmegaConf.to_container(compose_config(f"model={family}").model)
    schema = MODEL_FAMILIES[family]
    if family == "dense":  # its keys are still checked by validation.RULES (issue 20 moves them)
        assert model["family"] == "dense"
        return
    defaults = {field.name: field.default for field in dataclasses.fields(schema)}
    assert model == defaults


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_builds_a_model_from_word_ids_to_one_probability(compose_config, family):
    cfg = compose_config(f"model={family}", "data.num_words=100", "data.maxlen=20", *SMALL[family])
    validate_config(cfg)
    model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
    assert not uses_fused_steps(cfg)  # the fused loop is the dense model's
    assert model.input_shape == (None, 20) and "int" in str(model.inputs[0].dtype)
    assert model.output_shape == (None, 1)
    ids = np.random.default_rng(0).integers(0, 100, size=(3, 20)).astype("int32")
    probabilities = np.asarray(model(ids))
    assert probabilities.shape == (3, 1) and ((probabilities > 0) & (probabilities < 1)).all()


def test_bad_values_of_each_family_are_all_reported_naming_key_value_and_what_is_allowed(compose_config):
    problems = {}
    for overrides in (["model=conv1d", "model.kernel_size=0", "model.activation=nope"],
                      ["model=rnn", "model.cell=lstmx", "model.dropout=1.0"],
                      ["model=bag_of_ngrams", "model.ngrams=3", "model.mode=tfidf"],
                      ["model=transformer", "model.heads=0"],
                      ["model=custom"],
                      ["model.family=resnet"]):
        with pytest.raises(ConfigError) as raised:
            validate_config(compose_config(*overrides))
        problems[overrides[0]] = [str(problem) for problem in raised.value.problems]
    assert problems["model=conv1d"] == [
        "model.kernel_size = 0 is not allowed: expected an integer >= 1",
        "model.activation = 'nope' is not allowed: expected one of relu, tanh, sigmoid, elu, selu, gelu, swish, "
        "softplus, linear"]
    assert problems["model=rnn"] == ["model.cell = 'lstmx' is not allowed: expected one of lstm, gru",
                                     "model.dropout = 1.0 is not allowed: expected a number in [0, 1)"]
    assert problems["model=bag_of_ngrams"] == [
        "model.ngrams = 3 is not allowed: expected an integer in [1, 2]",
        "model.mode = 'tfidf' is not allowed: expected one of multi_hot, tf_idf"]
    assert problems["model=transformer"] == ["model.heads = 0 is not allowed: expected an integer >= 1"]
    assert len(problems["model=custom"]) == 1 and problems["model=custom"][0].startswith(
        "model.builder = None is not allowed: expected package.module:function")
    assert problems["model.family=resnet"][0] == (
        "model.family = 'resnet' is not allowed: expected one of dense, conv1d, rnn, bag_of_ngrams, "
        "transformer, custom")


def test_a_key_of_another_family_is_refused_naming_the_familys_keys(compose_config):
    with pytest.raises(ConfigError) as raised:
        validate_config(compose_config("model=conv1d", "+model.hidden_layers=2"))
    assert [str(problem) for problem in raised.value.problems] == [
        "model.hidden_layers is not a setting of model.family = 'conv1d': expected one of family, embedding_dim, "
        "blocks, filters, kernel_size, pool_size, units, activation, dropout"]


def test_the_dense_rules_hold_for_dense_alone(compose_config):
    with pytest.raises(ConfigError) as raised:
        validate_config(compose_config("model.units=0"))
    assert [str(problem) for problem in raised.value.problems] == [
        "model.units = 0 is not allowed: expected an integer >= 1"]
    validate_config(compose_config("model=rnn", "model.units=4"))  # rnn's units, not dense's rule set


@pytest.mark.parametrize("family", ["rnn", "transformer"])
def test_the_padding_is_masked(compose_config, family):
    """What the padding id's embedding holds never reaches the output."""
    cfg = compose_config(f"model={family}", "data.num_words=50", "data.maxlen=12", *SMALL[family],
                         "model.dropout=0.0")
    model = build_compiled_model(cfg, cfg.data.num_words, cfg.data.maxlen)
    ids = np.array([[0] * 5 + [1, 7, 8, 9, 10, 11, 12], [0] * 9 + [1, 20, 21]], dtype="int32")
    before = np.asarray(model(ids))
    embedding = next(variable for variable in model.weights if "token_embedding" in variable.path
                     or variable.path == "embedding/embeddings")
    table = np.asarray(embedding)
    table[0] = np.random.default_rng(0).normal(size=table.shape[1]) * 10
    embedding.assign(table)
    after = np.asarray(model(ids))
    # The same float32 computation on the same inputs: bit for bit, as the padding is skipped.
    np.testing.assert_array_equal(after, before)


def test_the_ngram_vector_counts_unigrams_and_bigrams_but_never_the_padding():
    layer = NgramVector(num_words=10, bigram_buckets=1000, ngrams=2, mode="multi_hot")
    ids = np.array([[0, 0, 3, 4, 3, 4], [0, 0, 0, 0, 5, 5]], dtype="int32")
    vector = np.asarray(layer(ids))
    assert vector.shape == (2, 1010)
    slots = np.asarray(layer.slots(ids))
    bigram_3_4 = slots[0, 6 + 2]  # the pair (3, 4) at positions 2, 3
    assert bigram_3_4 >= 10 and slots[0, 6 + 4] == bigram_3_4  # (3, 4) again at 4, 5
    assert set(slots[0, 6:6 + 2]) == {0}  # pairs that touch the padding go to the padding slot
    assert np.flatnonzero(vector[0]).tolist() == sorted({3, 4, int(bigram_3_4), int(slots[0, 6 + 3])})
    assert np.flatnonzero(vector[1]).tolist() == sorted({5, int(slots[1, 6 + 4])})
    assert set(np.unique(vector)) == {0.0, 1.0}


def test_tf_idf_weights_come_from_the_training_rows_and_are_saved_with_the_model(tmp_path):
    ids = np.array([[0, 3, 4], [3, 5, 5], [0, 0, 6]], dtype="int32")
    layer = NgramVector(num_words=8, bigram_buckets=16, ngrams=1, mode="tf_idf")
    layer.adapt_to_word_ids(ids)
    # Reviews holding each id (5 twice in one review counts once); the padding's (id 0) is never used.
    documents_with = np.array([2, 0, 0, 2, 1, 1, 1, 0])
    expected_idf = np.log1p(3 / (1 + documents_with))
    np.testing.assert_allclose(np.asarray(layer.idf), expected_idf, rtol=np.finfo(np.float32).eps)
    vector = np.asarray(layer(ids))
    # idf rounded to float32 (half an eps), times an exact count of 2.
    assert vector[1, 5] == pytest.approx(2 * expected_idf[5], rel=float(np.finfo(np.float32).eps))
    assert vector[0, 0] == 0

    inputs = keras.Input(shape=(3,), dtype="int32")
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "ngrams.keras")
    loaded = keras.models.load_model(tmp_path / "ngrams.keras")
    np.testing.assert_array_equal(np.asarray(loaded(ids)), vector)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_trains_an_epoch_through_the_job_and_records_its_family(tiny_config, family):
    cfg = tiny_config(f"model={family}", *SMALL[family])
    metrics = run_job(cfg)
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["epochs_trained"] == 1
    client = MlflowClient(f"sqlite:///{cfg.tracking.store_dir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert run.data.params["model.family"] == family
    assert run.info.status == "FINISHED"


# Loads each logged model in a fresh process, with nothing of imdb_sweep importable but
# what each model brings, and scores the raw test reviews with each.


def test_on_cpus_xla_compiles_the_families_where_it_was_measured_to_pay(compose_config):
    from imdb_sweep.models import XLA_ON_CPU
    from imdb_sweep.process.quiet_tensorflow import start_tensorflow
    from imdb_sweep.training.model import resolve_jit_compile

    if start_tensorflow():
        pytest.skip("on GPUs Keras decides")
    chosen = {family: resolve_jit_compile(compose_config(f"model={family}")) for family in FAMILIES}
    assert chosen == XLA_ON_CPU == {"conv1d": False, "rnn": True, "bag_of_ngrams": False, "transformer": False}
    assert resolve_jit_compile(compose_config("model=rnn", "runtime.deterministic=true")) == "auto"
    assert resolve_jit_compile(compose_config("model=custom", "model.builder=examples.my_model:build")) == "auto"
    assert resolve_jit_compile(compose_config("model=rnn", "runtime.jit_compile=false")) is False


@pytest.mark.parametrize("family", ["bag_of_ngrams", "transformer"])
def test_a_family_with_layers_of_ours_resumes_from_its_checkpoint(tiny_config, tmp_path, family):
    from imdb_sweep.data import load_imdb
    from imdb_sweep.training.checkpoints import CheckpointStore
    from imdb_sweep.training.fit import train

    overrides = [f"model={family}", *SMALL[family], *(["model.mode=tf_idf"] if family == "bag_of_ngrams" else [])]
    data = load_imdb(tiny_config().data)
    store = CheckpointStore(tmp_path / "checkpoints", "abc")
    partial = train(tiny_config(*overrides), data, checkpoints=store, run_id="run-1")
    state = store.load_state()
    resumed = train(tiny_config(*overrides, "train.epochs=2"), data, checkpoints=store, run_id="run-1", resume=state)
    assert len(resumed.history["val_accuracy"]) == 2
    assert resumed.history["loss"][:1] == partial.history["loss"]
    if family == "bag_of_ngrams":  # the TF-IDF weights learnt before epoch 1 came back with the model
        (before,) = [np.asarray(w) for w in partial.model.weights if w.name == "idf"]
        (after,) = [np.asarray(w) for w in resumed.model.weights if w.name == "idf"]
        np.testing.assert_array_equal(after, before)
        assert (before != 1).any()  # learnt, not the initial ones


def test_the_transformers_validation_and_test_batches_stay_small(compose_config):
    from imdb_sweep.models import evaluation_batch_size

    assert evaluation_batch_size(compose_config("model=transformer")) == 64
    assert evaluation_batch_size(compose_config("model=transformer", "runtime.evaluation_batch_size=16")) == 16
    assert evaluation_batch_size(compose_config("model=rnn")) == 1000  # runtime.evaluation_batch_size's default
