"""model=custom model.builder=package.module:function: the user's own Keras model,
checked before any run (import, signature, shapes), trained, tracked, searched,
registered and served like ours (examples/my_model.py)."""

from __future__ import annotations

import textwrap

import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep.config.validation import ConfigError
from imdb_sweep.job import check_job_inputs, run_job

BUILDERS = textwrap.dedent('''
    import keras

    def no_width(num_words, maxlen):
        word_ids = keras.Input(shape=(maxlen,), dtype="int32")
        features = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(num_words, 4)(word_ids))
        return keras.Model(word_ids, keras.layers.Dense(1, activation="sigmoid")(features))

    def needs_depth(num_words, maxlen, depth, width=4):
        return no_width(num_words, maxlen)

    def two_outputs(num_words, maxlen, width=4):
        word_ids = keras.Input(shape=(maxlen,), dtype="float32")
        features = keras.layers.Dense(width)(word_ids)
        return keras.Model(word_ids, keras.layers.Dense(2, activation="softmax")(features))

    def raises(num_words, maxlen, width=4):
        raise RuntimeError("width must be even")

    def not_a_model(num_words, maxlen, width=4):
        return "a model"

    NOT_CALLABLE = 3
''')


@pytest.fixture()
def builders(tmp_path, monkeypatch):
    """A module of builders, importable as `user_builders`."""
    (tmp_path / "user_builders.py").write_text(BUILDERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_builders"


def problems_of(cfg) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        check_job_inputs(cfg)
    return [str(problem) for problem in raised.value.problems]


def test_a_builder_that_cannot_be_imported_is_refused_before_any_run(tiny_config):
    (problem,) = problems_of(tiny_config("model=custom", "model.builder=no_such_package.models:build"))
    assert problem == ("model.builder = 'no_such_package.models:build' is not allowed: it cannot be imported "
                       "(ModuleNotFoundError: No module named 'no_such_package')")
    (problem,) = problems_of(tiny_config("model=custom", "model.builder=examples.my_model:no_such_function"))
    assert problem.startswith("model.builder = 'examples.my_model:no_such_function' is not allowed: it cannot be "
                              "imported (AttributeError:")
    (problem,) = problems_of(tiny_config("model=custom", "model.builder=examples.my_model"))
    assert problem.startswith("model.builder = 'examples.my_model' is not allowed: expected package.module:function")


def test_a_builder_whose_signature_does_not_fit_the_keys_is_refused(tiny_config, builders):
    (problem,) = problems_of(tiny_config("model=custom", f"model.builder={builders}:no_width", "+model.width=8"))
    assert problem == (f"model.builder = '{builders}:no_width' is not allowed: it takes no argument width "
                       "(each key under model. is passed to it by name)")
    (problem,) = problems_of(tiny_config("model=custom", f"model.builder={builders}:needs_depth"))
    assert problem == (f"model.builder = '{builders}:needs_depth' is not allowed: it needs depth and no key "
                       "model.depth is set")
    (problem,) = problems_of(tiny_config("model=custom", f"model.builder={builders}:NOT_CALLABLE"))
    assert "it cannot be imported (TypeError: NOT_CALLABLE in user_builders is a int, not a function)" in problem


def test_a_builder_that_fails_or_returns_the_wrong_shapes_is_refused(tiny_config, builders):
    (problem,) = problems_of(tiny_config("model=custom", f"model.builder={builders}:two_outputs"))
    assert problem == (f"model.builder = '{builders}:two_outputs' is not allowed: its input is (None, 50) float32, "
                       "not (None, 50) integer word ids (keras.Input(shape=(50,), dtype='int32')); "
                       "its output is (None, 2), not (None, 1) probabilities")
    (problem,) = problems_of(tiny_config("model=custom", f"model.builder={builders}:raises", "+model.width=3"))
    assert problem == (f"model.builder = '{builders}:raises' is not allowed: building the model with "
                       "{'width': 3} raised RuntimeError: width must be even")
    (problem,) = problems_of(tiny_config("model=custom", f"model.builder={builders}:not_a_model"))
    assert problem.endswith("it returned a str, not a keras.Model")


def test_the_example_builder_trains_through_the_job_with_its_own_key(tiny_config):
    cfg = tiny_config("model=custom", "model.builder=examples.my_model:build", "+model.width=6")
    metrics = run_job(cfg)
    assert 0 <= metrics["test_accuracy"] <= 1
    client = MlflowClient(f"sqlite:///{cfg.tracking.store_dir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert run.data.params["model.family"] == "custom"
    assert run.data.params["model.builder"] == "examples.my_model:build"
    assert run.data.params["model.width"] == "6"
