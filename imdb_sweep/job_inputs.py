"""A job's inputs checked: every config value, the data path and a custom model's builder,
before anything else happens.

The job checks its own; a grid's callback and a search's sweeper check every job they
will launch with the same function, so it sits below all three.
"""

from __future__ import annotations

from omegaconf import DictConfig

from imdb_sweep.config.validation import ConfigError, validate_config
from imdb_sweep.data.source import check_data_source
from imdb_sweep.models import family_of


def check_job_inputs(cfg: DictConfig) -> None:
    """Raise ConfigError (every bad value, or what is wrong with a custom builder) or
    DataError (no data) for `cfg`."""
    validate_config(cfg)
    check_data_source(cfg.data)
    if family_of(cfg.model) == "custom":
        from imdb_sweep.models.custom import builder_problems

        problems = builder_problems(cfg.model, num_words=cfg.data.num_words, maxlen=cfg.data.maxlen)
        if problems:
            raise ConfigError(problems)
