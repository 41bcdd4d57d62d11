"""The plugin class Hydra instantiates for hydra/sweeper=adaptive_seeds. It sets up as
Hydra's basic sweeper does (the launcher from hydra/launcher) and expands the grid with
the basic sweeper's own code (config/hydra_internals.py); the rounds of seeds are
imdb_sweep/sweep/adaptive_seeds.py, imported when the sweep starts."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class AdaptiveSeedsSweeper(Sweeper):
    """A grid whose configurations get seeds until every effect is settled, up to a cap.
    Its settings (min_seeds, max_seeds, half_width, metric) are read from the config,
    where the sweep's callback has checked them before any job."""

    def __init__(self, **sweeper_config: Any) -> None:
        self._sweeper_config = sweeper_config
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from imdb_sweep.sweep.adaptive_seeds import run_rounds

        assert self.config is not None and self.hydra_context is not None
        return run_rounds(self.config, self.hydra_context, self.launcher, arguments, self.validate_batch_is_legal)


def register() -> None:
    """Put the sweeper into Hydra's plugin registry, whatever the namespace scan finds."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(AdaptiveSeedsSweeper)
