"""The schema (imdb_sweep/config/schema/) is the config's: every yaml option agrees with
its dataclass, OmegaConf takes each option on top of its schema, and the one walker
refuses what the schema does not allow, type errors and unknown keys included."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import ClassVar

import pytest
from omegaconf import OmegaConf

from imdb_sweep.config import identity
from imdb_sweep.config.schema import GROUPS, MODEL_FAMILIES, TopLevelConfig, register_schemas
from imdb_sweep.config.schema.fields import default_of, text
from imdb_sweep.config.schema.sweeper import AdaptiveSeedsSweeperConfig, SearchSweeperConfig
from imdb_sweep.config.validation import ConfigError, Problem, config_problems, schema_problems, validate_config
from tests.helpers.paths import CONF_DIR


def schema_defaults(schema: type) -> dict:
    return {field.name: (dataclasses.asdict(default) if dataclasses.is_dataclass(default) else default)
            for field in dataclasses.fields(schema) for default in [default_of(field)]}


def group_options() -> list[tuple[Path, type]]:
    """Every yaml option of every group with a schema, and that schema."""
    options = [(path, schema) for group, schema in GROUPS.items() for path in sorted((CONF_DIR / group).glob("*.yaml"))]
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        options.append((path, MODEL_FAMILIES[OmegaConf.load(path)["family"]]))
    return options + [(CONF_DIR / "hydra" / "sweeper" / "imdb_optuna.yaml", SearchSweeperConfig),
                      (CONF_DIR / "hydra" / "sweeper" / "adaptive_seeds.yaml", AdaptiveSeedsSweeperConfig)]


def own_keys(path: Path) -> dict:
    """A yaml option's keys as written, unresolved, without Hydra's defaults list and instantiate keys."""
    written = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return {key: value for key, value in written.items() if key != "defaults" and not key.startswith("_")}


@pytest.mark.parametrize(("path", "schema"), group_options(), ids=lambda item: getattr(item, "name", ""))
def test_every_yaml_option_has_its_schemas_keys_and_defaults(path, schema):
    written, defaults = own_keys(path), schema_defaults(schema)
    # A key the yaml leaves out comes from its defaults list (hydra.sweeper.sampler: the tpe preset).
    composed_by_defaults = {"sampler"} if schema is SearchSweeperConfig else set()
    assert set(written) == set(defaults) - composed_by_defaults
    assert written == {key: defaults[key] for key in written}


@pytest.mark.parametrize(("path", "schema"), group_options(), ids=lambda item: getattr(item, "name", ""))
def test_omegaconf_takes_every_yaml_option_on_top_of_its_schema(path, schema):
    # OmegaConf's own check: no key the dataclass lacks, every value of its field's type.
    merged = OmegaConf.merge(OmegaConf.structured(schema), own_keys(path))
    assert OmegaConf.to_container(merged, resolve=False).keys() == schema_defaults(schema).keys()


def test_the_top_level_keys_are_config_yamls(compose_config):
    config_yaml = own_keys(CONF_DIR / "config.yaml")
    assert config_yaml["seed"] == default_of(dataclasses.fields(TopLevelConfig)[0])
    assert set(compose_config()) - {*GROUPS, "model"} == {field.name for field in dataclasses.fields(TopLevelConfig)}


def test_a_yaml_of_ones_own_extends_a_schema_from_the_config_store(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    register_schemas()
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "typed.yaml").write_text("defaults:\n  - /schema/model/dense@_here_\n  - _self_\nunits: 64\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["model=typed"])
        # Typed at compose: Hydra's own error, at the first bad value (why conf/ is checked by the walker).
        with pytest.raises(ConfigCompositionException, match="Error merging override model.units=abc") as caught:
            compose(config_name="config", overrides=["model=typed", "model.units=abc"])
    assert "could not be converted to Integer" in str(caught.value.__cause__)
    assert OmegaConf.get_type(cfg.model) is MODEL_FAMILIES["dense"]
    assert (cfg.model.units, cfg.model.activation) == (64, "relu")


def test_every_key_the_identity_rule_leaves_out_is_a_schema_key():
    known = {*GROUPS, *{f"{group}.{field.name}" for group, schema in GROUPS.items()
                        for field in dataclasses.fields(schema)}}
    assert set(identity.NOT_TRAINING_KEYS) <= known


@pytest.mark.parametrize("key", ["runtime.fuse_steps", "runtime.jit_compile", "runtime.mixed_precision",
                                 "train.dropout_masks", "model.family", "seed", "variant"])
def test_switches_that_change_the_numbers_stay_in_the_identity(key):
    assert identity.affects_training(key)


@pytest.mark.parametrize("key", ["runtime.steps_per_execution", "runtime.evaluation_batch_size", "runtime.threads",
                                 "runtime.verbose", "runtime.deterministic", "runtime.keep_freed_memory"])
def test_speed_switches_leave_the_identity_alone(key):
    assert not identity.affects_training(key)


# -- the walker ------------------------------------------------------------------------

@pytest.mark.parametrize(("override", "problem"), [
    # Hydra parses each of these as a value of another type; OmegaConf would have read yes as true.
    ("model.units=abc", Problem("model.units", "abc", "an integer >= 1")),
    ("train.epochs=2.5", Problem("train.epochs", 2.5, "an integer >= 1")),
    ("model.units=true", Problem("model.units", True, "an integer >= 1")),
    ("runtime.keep_freed_memory=yes", Problem("runtime.keep_freed_memory", "yes", "true or false")),
    ("runtime.verbose=false", Problem("runtime.verbose", False, "one of 0, 1, 2")),
    ("runtime.jit_compile=1", Problem("runtime.jit_compile", 1, "one of auto, true, false")),
    ("model.dropout=abc", Problem("model.dropout", "abc", "a number in [0, 1)")),
    ("~model.units", Problem("model.units", None, "an integer >= 1")),
], ids=lambda item: item if isinstance(item, str) else "")
def test_a_value_of_the_wrong_type_is_one_problem_with_its_key_value_and_rule(compose_config, override, problem):
    assert config_problems(compose_config(override)) == [problem]


def test_a_key_the_schema_does_not_have_is_refused_naming_the_keys_it_has(compose_config):
    (problem,) = config_problems(compose_config("+model.unit=64"))
    assert problem.key == "model.unit"
    assert str(problem).startswith(
        "model.unit is not a setting of model.family = 'dense': expected one of family, embedding_dim")


def test_an_unknown_family_is_named_with_the_families_there_are(compose_config):
    (problem,) = config_problems(compose_config("model.family=lstm"))
    assert (problem.key, problem.value) == ("model.family", "lstm")
    assert problem.allowed == "one of " + ", ".join(MODEL_FAMILIES)


def test_problems_keep_their_key_value_and_rule_apart_from_the_message(compose_config):
    with pytest.raises(ConfigError) as caught:
        validate_config(compose_config("model.units=0", "data.source=aclimdb", "data.path=''"))
    units, path = caught.value.problems
    assert (units.key, units.value, units.allowed) == ("model.units", 0, "an integer >= 1")
    assert (path.key, path.condition) == ("data.path", "data.source = 'aclimdb'")
    assert str(units.at("job model.units=0")) == "job model.units=0: model.units = 0 is not allowed: expected an " \
                                                 "integer >= 1"


def test_dead_after_must_outlast_the_heartbeat(compose_config):
    (problem,) = config_problems(compose_config("sweep.heartbeat_seconds=60", "sweep.dead_after_seconds=60"))
    assert (problem.key, problem.value, problem.allowed) == ("sweep.dead_after_seconds", 60,
                                                            "a number > sweep.heartbeat_seconds")


def test_a_schema_may_take_keys_of_the_users_own():
    @dataclasses.dataclass
    class Closed:
        builder: str = text("mine:build", help="the builder")

    @dataclasses.dataclass
    class Open(Closed):
        ACCEPTS_OTHER_KEYS: ClassVar[bool] = True

    values = {"builder": "mine:build", "width": 3}
    assert [problem.key for problem in schema_problems(values, Closed, "model.")] == ["model.width"]
    assert schema_problems(values, Open, "model.") == []
    assert [problem.key for problem in schema_problems({"builder": 3}, Open, "model.")] == ["model.builder"]
