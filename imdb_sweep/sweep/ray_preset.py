"""`hydra/launcher=ray`: the Hydra Ray launcher plugin, with the settings a sweep needs.

The plugin registers its own `ray` launcher config, whose defaults do not work
for us: it sets `object_store_memory`, which Ray refuses when joining an
existing cluster, and it passes workers none of the environment a job needs
(the sweep's parent run, the tracking URI, the data path). Our settings live in
conf/hydra/launcher/ray_cluster.yaml; this puts them under the plugin's own
name too, so that `hydra/launcher=ray` and `hydra/launcher=ray_cluster` are the
same thing. (A conf/hydra/launcher/ray.yaml file would shadow the plugin's
config as well, but Hydra warns about that as deprecated schema matching.)
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from imdb_sweep.config.hydra_internals import ray_launcher_config
from imdb_sweep.config.location import config_dir

SETTINGS_FILE = config_dir() / "hydra" / "launcher" / "ray_cluster.yaml"


def register_ray_launcher_preset() -> bool:
    """Replace the plugin's `hydra/launcher=ray` config by plugin defaults + our
    settings. False (and nothing done) when the `ray` extra is not installed."""
    # Importing it registers the plugin's config now; Hydra's plugin
    # discovery later finds the module loaded and does not register it again.
    plugin_config = ray_launcher_config()
    if plugin_config is None:
        return False
    from hydra.core.config_store import ConfigStore

    settings = OmegaConf.load(SETTINGS_FILE)
    assert isinstance(settings, DictConfig), f"{SETTINGS_FILE} holds a mapping"
    settings.pop("defaults", None)
    node = OmegaConf.merge(OmegaConf.structured(plugin_config), settings)
    ConfigStore.instance().store(group="hydra/launcher", name="ray", node=node, provider="imdb_sweep")
    return True
