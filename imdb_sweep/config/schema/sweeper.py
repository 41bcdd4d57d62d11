"""`hydra.sweeper` of a search (hydra/sweeper=imdb_optuna, conf/hydra/sweeper/imdb_optuna.yaml).

Hydra's instantiate keys (`_target_`, `_recursive_`) are Hydra's, not settings, and
are left out. The sampler and the pruners are `_target_` configs of any Optuna
class: search/settings.py checks them against the class they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from imdb_sweep import contract
from imdb_sweep.config.schema.fields import checked_apart, integer, number, one_of, text

SAMPLER_PRESETS = "tpe, random, grid, qmc, cmaes, gp"
NO_PRUNER = "none"
WARM_START_OFF = "none"
WARM_START_EXPERIMENT = "experiment"
DIRECTION_ALLOWED = "maximize, minimize, or null (the metric's own direction)"


@dataclass
class ObjectiveConfig:
    metric: str = one_of(contract.DEFAULT_OBJECTIVE, contract.OBJECTIVE_METRICS,
                         note="validation metrics every job logs; the test set is reported, never optimized or "
                              "used to pick",
                         help="what the search optimizes")
    direction: str | None = checked_apart(None, allowed=DIRECTION_ALLOWED,
                                          help="null: the metric's own; anything else must be it")


@dataclass
class SearchSweeperConfig:
    TITLE: ClassVar[str] = "the search sweeper"

    n_trials: int = integer(20, minimum=1,
                            help="trials in the study, over all its workers (pruned and failed ones count)")
    n_jobs: int | None = integer(None, minimum=1, optional=True,
                                 help="this worker's slots: trials run side by side, each slot starting its next "
                                      "trial as soon as its last ends (null: the launcher's `n_jobs`)")
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    direction: Any = checked_apart(None, allowed=DIRECTION_ALLOWED,
                                   help="Hydra's Optuna sweeper's name for `objective.direction` (one objective)")
    sampler: Any = checked_apart(
        None, allowed=f"an Optuna sampler as a _target_ config (hydra/sweeper/imdb_sampler={SAMPLER_PRESETS})",
        help="the sampler: a preset (`hydra/sweeper/imdb_sampler=NAME`, tpe by default) or any Optuna sampler by "
             "`_target_`, with its own arguments")
    pruner: Any = checked_apart(
        NO_PRUNER, allowed=f"{NO_PRUNER}, a name under hydra.sweeper.pruners, or an Optuna pruner as a _target_ config",
        help="stop hopeless trials after an epoch: `median`, `asha`, `hyperband` (their arguments under `pruners`)")
    pruners: dict[str, Any] = checked_apart(
        {"median": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5, "n_warmup_steps": 1},
         "asha": {"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": 1, "reduction_factor": 3},
         "hyperband": {"_target_": "optuna.pruners.HyperbandPruner", "min_resource": 1, "reduction_factor": 3}},
        allowed="Optuna pruners as _target_ configs, by name",
        help="the pruners `pruner` names (`hydra.sweeper.pruners.asha.reduction_factor=2`)")
    max_failure_rate: float = number(1.0, minimum=0, maximum=1,
                                     help="this worker stops (exit 1, parent run FAILED) once more than this share "
                                          "of the trials it ran failed; 1.0 never stops")
    warm_start: str = one_of(
        WARM_START_OFF, (WARM_START_OFF, WARM_START_EXPERIMENT),
        help="experiment: the new study starts with every FINISHED, unpruned run of the experiment that has this "
             "search's fixed keys and data and values in its space (not trained again, not counted in n_trials)")
    custom_search_space: str | None = checked_apart(
        None, allowed="null or the dotted path of a function (config, trial) -> None",
        help="a function `(config, trial) -> None` that suggests more keys on each trial")
    storage: str | None = text(None, optional=True, allowed="a journal file path or a database URL",
                               help="where the study lives (null: `mlruns/optuna.journal`)")
    study_name: str | None = text(None, optional=True, allowed="a study name",
                                  help="null: named after the search, so the same command joins the same study")
    params: dict[str, str] | None = checked_apart(None, allowed="a mapping of keys to search expressions",
                                                  help="the search space, as overrides (a `search/` config fills it)")
    conditional_params: dict[str, dict[str, str]] | None = checked_apart(
        None, allowed="a mapping of a searched key's value (model=rnn) to keys of its own and their expressions",
        help="keys searched only on trials where a searched key has one value (a model family's own keys)")


# What the adaptive seeds' stopping rule may watch: a validation accuracy, so that its
# half-width reads in points and deciding how many seeds to run never looks at the test set.
SEED_RULE_METRICS = (contract.BEST_VAL_ACCURACY, contract.FINAL_VAL_ACCURACY)


@dataclass
class AdaptiveSeedsSweeperConfig:
    TITLE: ClassVar[str] = "the adaptive seeds sweeper"

    min_seeds: int = integer(3, minimum=2, help="seeds every configuration runs first (a CI needs two)")
    max_seeds: int = integer(10, minimum=2, help="the cap: no configuration runs more seeds (at least min_seeds)")
    half_width: float = number(0.5, above=0, maximum=50,
                               help="points of accuracy: an effect whose CI is narrower than ± this is settled, "
                                    "even when it covers 0")
    metric: str = one_of(contract.BEST_VAL_ACCURACY, SEED_RULE_METRICS,
                         note="validation: the rule never looks at the test set",
                         help="the metric whose effects must be settled")
    params: dict[str, str] | None = checked_apart(None, allowed="a mapping of keys to sweep values",
                                                  help="the grid, as Hydra's basic sweeper takes it")
