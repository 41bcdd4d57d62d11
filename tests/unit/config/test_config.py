"""The real conf/ composes to the reference baseline, and every variant selects its change."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from imdb_sweep.config.identity import flatten_config
from tests.helpers.variants import VARIANT_CHANGES

BASELINE = {
    "seed": 42,
    "variant": "baseline",
    "model.hidden_layers": 1,
    "model.units": 32,
    "model.activation": "relu",
    "model.dropout": 0.0,
    "model.l2": 0.0,
    "model.embedding_dim": 32,
    "train.loss": "binary_crossentropy",
    "train.optimizer": "rmsprop",
    "train.learning_rate": 0.001,
    "train.epochs": 10,
    "train.batch_size": 32,
    "train.validation_split": 0.2,
    "data.num_words": 10000,
    "data.maxlen": 500,
}


def test_defaults_reproduce_the_reference_baseline(compose_config):
    flat = flatten_config(compose_config())
    assert {key: flat[key] for key in BASELINE} == BASELINE


@pytest.mark.parametrize("variant", sorted(VARIANT_CHANGES))
def test_each_variant_changes_only_its_own_keys(compose_config, variant):
    flat = flatten_config(compose_config(f"variant={variant}"))
    expected = {**BASELINE, **VARIANT_CHANGES[variant], "variant": variant}
    assert {key: flat[key] for key in BASELINE} == expected


def test_command_line_overrides_win_over_a_variant(compose_config):
    cfg = compose_config("variant=units64", "model.units=16")
    assert cfg.model.units == 16
    assert cfg.variant == "units64"


def test_every_variant_file_is_listed_here():
    from tests.helpers.paths import CONF_DIR

    on_disk = {path.stem for path in (CONF_DIR / "variant").glob("*.yaml")}
    assert on_disk == set(VARIANT_CHANGES)


def test_data_path_comes_from_the_environment(compose_config, monkeypatch, tmp_path):
    monkeypatch.setenv("IMDB_SWEEP_ACLIMDB", str(tmp_path / "x.tar.gz"))
    assert compose_config().data.path == str(tmp_path / "x.tar.gz")


def test_hydra_launcher_ray_is_the_plugin_with_our_cluster_settings():
    from hydra import compose, initialize_config_dir

    from imdb_sweep.sweep.ray_preset import register_ray_launcher_preset
    from tests.helpers.paths import CONF_DIR

    assert register_ray_launcher_preset()
    launchers = {}
    for name in ("ray", "ray_cluster"):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
        launchers[name] = OmegaConf.to_container(cfg.hydra.launcher)
    assert launchers["ray"] == launchers["ray_cluster"]
    ray = launchers["ray"]
    assert ray["_target_"] == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    # Joining an existing cluster fails when object_store_memory is set.
    assert ray["ray"]["init"]["object_store_memory"] is None
    assert {"IMDB_SWEEP_STATE", "MLFLOW_TRACKING_URI", "IMDB_SWEEP_ACLIMDB"} <= set(
        ray["ray"]["init"]["runtime_env"]["env_vars"])
    assert ray["ray"]["remote"] == {"num_cpus": 1}
