"""A job's inputs checked: every config value and the data path, before anything else happens.

The job checks its own; a grid's callback and a search's sweeper check every job they
will launch with the same function, so it sits below all three.
"""

from __future__ import annotations

from omegaconf import DictConfig

from imdb_sweep.config.validation import validate_config
from imdb_sweep.data.source import check_data_source


def check_job_inputs(cfg: DictConfig) -> None:
    """Raise ConfigError (every bad value) or DataError (no data) for `cfg`."""
    validate_config(cfg)
    check_data_source(cfg.data)
