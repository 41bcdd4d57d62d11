"""The plugin class Hydra instantiates for hydra/sweeper=optuna; the search itself
is imdb_sweep/search/sweeper.py, imported only when a search starts (a
plain job never pays for importing Optuna)."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
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


def register() -> None:
    """Put the sweeper into Hydra's plugin registry, whatever the namespace scan finds
    (an editable install made before pyproject.toml listed `hydra_plugins` hides it)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(OptunaSweeper)
