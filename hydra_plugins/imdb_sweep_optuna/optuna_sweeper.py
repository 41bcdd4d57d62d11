"""The plugin class Hydra instantiates for hydra/sweeper=imdb_optuna; the search itself
is imdb_sweep/search/sweeper.py, imported only when a search starts (a
plain job never pays for importing Optuna).

Hydra's own Optuna sweeper (the hydra-optuna-sweeper package) is hydra/sweeper=optuna,
class hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper, with samplers in
hydra/sweeper/sampler: ours is named apart, so both can be installed. Without that
package, hydra/sweeper=optuna (a config written for it) stops with an error naming ours.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

OUR_CONFIG = "hydra/sweeper=imdb_optuna"
UPSTREAM_CONFIG = "hydra/sweeper=optuna"
UPSTREAM_PLUGIN = "hydra_plugins.hydra_optuna_sweeper"
# hydra-optuna-sweeper's top-level keys: a config written for it composes (so that the
# error below can name ours) instead of stopping at the first key Hydra does not know.
UPSTREAM_KEYS = ("direction", "storage", "study_name", "n_trials", "n_jobs", "params", "search_space",
                 "custom_search_space", "max_failure_rate")


class ImdbOptunaSweeper(Sweeper):
    """Hyperparameter search with Optuna: samplers, per-epoch pruning, shared studies."""

    def __init__(self, **sweeper_config: Any) -> None:
        self._sweeper_config = sweeper_config
        self._search: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from imdb_sweep.search.sweeper import SearchSweeper

        self._search = SearchSweeper(**self._sweeper_config)
        self._search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self._search.sweep(arguments)


class UpstreamOptunaSweeperMissing(Sweeper):
    """What hydra/sweeper=optuna builds when hydra-optuna-sweeper is not installed: an
    error that names our sweeper, before any job runs."""

    def __init__(self, **sweeper_config: Any) -> None:
        from imdb_sweep.search.settings import SAMPLER_GROUP, SAMPLER_PRESETS

        print(f"Error: {UPSTREAM_CONFIG} is Hydra's own Optuna sweeper (pip install hydra-optuna-sweeper), "
              f"which is not installed. imdb_sweep's Optuna search is {OUR_CONFIG}: it reads the same "
              "hydra.sweeper keys (params, direction, study_name, storage, n_trials, n_jobs, sampler), "
              f"its samplers are {SAMPLER_GROUP}={SAMPLER_PRESETS.replace(', ', '|')}, and every key is "
              "described in conf/hydra/sweeper/imdb_optuna.yaml", file=sys.stderr, flush=True)
        raise SystemExit(1)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        raise NotImplementedError  # never built: __init__ exits

    def sweep(self, arguments: list[str]) -> Any:
        raise NotImplementedError


def store_upstream_name() -> None:
    """hydra/sweeper=optuna, when hydra-optuna-sweeper is not installed, as a config
    whose sweeper says to use ours."""
    if importlib.util.find_spec(UPSTREAM_PLUGIN) is not None:
        return
    node: dict[str, Any] = {"_target_": f"{__name__}.{UpstreamOptunaSweeperMissing.__name__}",
                            "sampler": {"_target_": None, "seed": None}}
    node.update(dict.fromkeys(UPSTREAM_KEYS))
    ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=node, provider="imdb_sweep")


def register() -> None:
    """Put the sweeper into Hydra's plugin registry, whatever the namespace scan finds
    (an editable install made before pyproject.toml listed `hydra_plugins` hides it)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(ImdbOptunaSweeper)
    Plugins.instance().register(UpstreamOptunaSweeperMissing)


store_upstream_name()  # at import, as Hydra's plugin scan imports every module of hydra_plugins
