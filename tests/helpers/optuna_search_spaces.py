"""custom_search_space functions for the tests of hydra.sweeper.custom_search_space, given as
hydra.sweeper.custom_search_space=tests.helpers.optuna_search_spaces.NAME: each is called
with the sweep's config and the trial, as Hydra's Optuna sweeper calls its own."""

from __future__ import annotations

from typing import Any


def embedding_no_wider_than_units(config: Any, trial: Any) -> None:
    """model.embedding_dim depends on the trial's model.units (from the space), which
    a space of independent keys cannot say; config.model is the sweep's composed model."""
    widest = min(trial.params["model.units"], config.model.embedding_dim)
    trial.suggest_int("model.embedding_dim", 2, widest)


def invalid_units_on_odd_trials(config: Any, trial: Any) -> None:
    """model.units=0 on trials 1, 3, ...: the job refuses it before training, so those
    trials fail, whatever the sampler draws. (An integer range may change from trial to
    trial; Optuna refuses that of a categorical.)"""
    units = 0 if trial.number % 2 else 4
    trial.suggest_int("model.units", units, units)


def invalid_units_always(config: Any, trial: Any) -> None:
    trial.suggest_int("model.units", 0, 0)


def broken(config: Any, trial: Any) -> None:
    raise KeyError("model.width")
