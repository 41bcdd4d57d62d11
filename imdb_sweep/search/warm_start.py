"""hydra.sweeper.warm_start=experiment: a new study starts from the record.

Before the first trial is asked, every FINISHED, unpruned job run of the experiment
that this search could have proposed is added to the study as a COMPLETE trial:
its searched values lie in the space, and the job those values make of this
search's config has the run's config_hash (config/identity.py: the same fixed
keys that change what is trained, and the same data digest). Its objective after
each epoch becomes the trial's intermediate values, so the pruners compare new
trials against it too (ASHA through the rung values it would have recorded).

These trials are not trained again (the sampler knows them, and a configuration
proposed again is answered from its FINISHED run anyway) and are not counted in
hydra.sweeper.n_trials: n_trials is what this search trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optuna
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, open_dict
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from imdb_sweep import contract
from imdb_sweep.config.hydra_internals import running_config_loader
from imdb_sweep.config.identity import config_hash
from imdb_sweep.console import print_flushed
from imdb_sweep.data.source import configured_digest
from imdb_sweep.search.settings import SearchSettings
from imdb_sweep.search.space import SearchSpace
from imdb_sweep.tracking.records import param_text

# Optuna's SuccessiveHalvingPruner keeps, on each trial, the value it had at each rung
# (optuna/pruners/_successive_halving.py, _completed_rung_key); it compares only those.
ASHA_TARGET = "optuna.pruners.SuccessiveHalvingPruner"
ASHA_RUNG_KEY = "completed_rung_{}"
RUNS_PAGE = 1000


def warm_start(config: Any, settings: SearchSettings, space: SearchSpace, client: MlflowClient,
               experiment_id: str, study: optuna.Study) -> int:
    """Add the experiment's runs this search could have proposed to `study` (new,
    before its first ask); how many were added."""
    if settings.custom_search_space is not None:
        print_flushed("Warm start skipped: a custom_search_space function's keys are known only as it runs")
        return 0
    digest = configured_digest(job_config(config, space.candidate_jobs()[0]).data)
    added: set[str] = set()  # config hashes: each configuration once, from its latest run
    for run in finished_runs(client, experiment_id, digest):
        run_hash = run.data.tags.get(contract.CONFIG_HASH)
        params = params_in_space(space, run.data.params)
        if run_hash is None or run_hash in added or params is None:
            continue
        if config_hash(job_config(config, space.overrides(params)), digest) != run_hash:
            continue  # another fixed key or data: not this search's
        trial = trial_of_run(client, run, params, space, settings)
        if trial is not None:
            study.add_trial(trial)
            added.add(run_hash)
    return len(added)


def job_config(config: Any, overrides: list[str]) -> DictConfig:
    """The config a job of these overrides gets (the launcher's composition, without
    the `hydra` node a job's task function never sees)."""
    composed = running_config_loader().load_sweep_config(config, list(overrides))
    with open_dict(composed):
        del composed["hydra"]
    return composed


def finished_runs(client: MlflowClient, experiment_id: str, digest: str) -> Iterator[Run]:
    """The experiment's FINISHED, unpruned job runs on data of `digest`, latest first."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=RUNS_PAGE, page_token=token, order_by=["attributes.start_time DESC"],
            filter_string=(f"tags.`{contract.ROLE}` = 'job' and tags.`{contract.DATA_DIGEST}` = '{digest}' "
                           "and attributes.status = 'FINISHED'"))
        yield from (run for run in page if contract.PRUNED_AT_EPOCH not in run.data.tags)
        token = page.token
        if not token:
            return


def params_in_space(space: SearchSpace, logged: dict[str, str]) -> dict[str, Any] | None:
    """The trial params (the study's names) a run's logged params stand for, or None
    when a searched value is missing or outside the space."""
    params: dict[str, Any] = {}
    for key, distribution in space.distributions.items():
        value = value_in(distribution, logged.get(key.lstrip("+")))
        if value is None:
            return None
        params[key] = value
    for branch in space.branches:
        if branch.holds(params):
            for key, distribution in branch.space.distributions.items():
                value = value_in(distribution, logged.get(key.lstrip("+")))
                if value is None:
                    return None
                params[branch.name(key)] = value
    return params


def value_in(distribution: BaseDistribution, text: str | None) -> Any:
    """The value of `distribution` a logged param is (param_text), or None."""
    if text is None:
        return None
    if isinstance(distribution, CategoricalDistribution):
        return next((choice for choice in distribution.choices if param_text(choice) == text), None)
    if not isinstance(distribution, IntDistribution | FloatDistribution):
        return None
    try:
        value: Any = int(text) if isinstance(distribution, IntDistribution) else float(text)
    except ValueError:
        return None
    on_step = distribution.step is None or abs(round((value - distribution.low) / distribution.step)
                                               * distribution.step - (value - distribution.low)) < 1e-9
    return value if distribution.low <= value <= distribution.high and on_step else None


def trial_of_run(client: MlflowClient, run: Run, params: dict[str, Any], space: SearchSpace,
                 settings: SearchSettings) -> optuna.trial.FrozenTrial | None:
    """A COMPLETE trial holding the run's objective and its value after each epoch."""
    objective = settings.objective
    value = run.data.metrics.get(objective.name)
    history = sorted(client.get_metric_history(run.info.run_id, objective.epoch_key), key=lambda m: m.step)
    if value is None or value != value or not history:
        return None
    epoch_values = [metric.value for metric in history]
    intermediate = {metric.step: objective.value_after(epoch_values[:index + 1], settings.direction)
                    for index, metric in enumerate(history)}
    distributions = {**space.distributions, **{branch.name(key): distribution for branch in space.branches
                                               for key, distribution in branch.space.distributions.items()}}
    return optuna.trial.create_trial(
        params=params, distributions={key: distributions[key] for key in params}, value=float(value),
        intermediate_values=intermediate, system_attrs=asha_rungs(settings.pruner_config, intermediate),
        user_attrs={contract.TRIAL_WARM_START: run.info.run_id, contract.TRIAL_RUN_ID: run.info.run_id})


def asha_rungs(pruner_config: dict[str, Any] | None, intermediate: dict[int, float]) -> dict[str, float]:
    """The rung values ASHA would have kept on the trial, had it run in this search
    (others pruners read the intermediate values themselves)."""
    if not pruner_config or pruner_config.get("_target_") != ASHA_TARGET:
        return {}
    minimum = pruner_config.get("min_resource", "auto")
    if not isinstance(minimum, int):
        return {}  # 'auto' is found from the trials as they run
    factor = int(pruner_config.get("reduction_factor", 4))
    rate = int(pruner_config.get("min_early_stopping_rate", 0))
    rungs, rung = {}, 0
    while (step := minimum * factor ** (rate + rung)) in intermediate:
        rungs[ASHA_RUNG_KEY.format(rung)] = intermediate[step]
        rung += 1
    return rungs
