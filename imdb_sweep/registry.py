"""The sweep's winner into the MLflow model registry.

The best run by the ranking metric (validation, never the test set; a failed,
killed or pruned run never) becomes a new version of the registered model. Alias
`champion` moves to it only when it beats the current champion on that metric:
significantly (one-sided Welch t-test, alpha 0.05) when both have seeds, else by
any margin; otherwise the version gets alias `challenger` and the description says
why. `promote="always"` (tracking.promote=always) moves `champion` every time:

    registration = register_sweep_winner(uri, experiment_id, parent_run_id, "imdb-sentiment")
    print(registration.describe())
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean

from mlflow.entities import LoggedModel
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.config.choices import PROMOTE
from imdb_sweep.config.schema.tracking import MODEL_NAME_ALLOWED, is_model_name
from imdb_sweep.report.runs import JobRun, select_parent_run
from imdb_sweep.report.stats import one_sided_welch
from imdb_sweep.report.table import DEFAULT_RANKING_METRIC, TEST_METRIC, ComparisonTable, build_table

# A registered version's tags: where it came from (contract.VERSION_*, RANKED_BY) and
# how it scored: beside the ranking metric, the served model's epoch and test accuracy,
# and the seed's test_accuracy after the last epoch.
REPORTED_METRICS = (DEFAULT_RANKING_METRIC, contract.MODEL_EPOCH, contract.MODEL_TEST_ACCURACY, TEST_METRIC)
# What the one-line description names: the served model's numbers.
DESCRIBED_METRICS = (DEFAULT_RANKING_METRIC, contract.MODEL_EPOCH, contract.MODEL_TEST_ACCURACY)
PROMOTE_WHEN_BETTER, PROMOTE_ALWAYS = PROMOTE
# A seeded challenger replaces a seeded champion only when Welch's one-sided test says
# its mean is better at this level: a lucky seed alone does not move the alias.
PROMOTION_ALPHA = 0.05


@dataclass(frozen=True)
class Decision:
    """Whether a version takes the champion alias, and why (one clause)."""

    promote: bool
    reason: str


def _scores(values: list[float], metric: str) -> str:
    """`best_val_accuracy 0.8712` for one run, `mean best_val_accuracy 0.8712 over 5 seeds` for seeds."""
    if len(values) == 1:
        return f"{metric} {values[0]:.4f}"
    return f"mean {metric} {fmean(values):.4f} over {len(values)} seeds"


def champion_decision(values: list[float], champion_values: list[float], champion_version: str,
                      metric: str, minimize: bool = False) -> Decision:
    """Does a version scoring `values` (one per seed of its configuration, or its one run)
    beat the champion scoring `champion_values` on `metric`? Significantly (one-sided Welch,
    PROMOTION_ALPHA) when both have seeds, else by any margin."""
    champion = f"champion version {champion_version}"
    if not champion_values:
        return Decision(True, f"{champion} has no {metric} to compare with")
    if not values:
        return Decision(False, f"no {metric} to compare with {champion}")
    ours, theirs = _scores(values, metric), _scores(champion_values, metric)
    if len(values) > 1 and len(champion_values) > 1:
        p_value = one_sided_welch(values, champion_values, minimize)
        if p_value < PROMOTION_ALPHA:
            return Decision(True, f"{ours} beats {champion}'s {theirs} (one-sided Welch p={p_value:.3g})")
        shown = "n/a" if math.isnan(p_value) else f"{p_value:.3g}"
        return Decision(False, f"{ours} does not significantly beat {champion}'s {theirs} "
                               f"(one-sided Welch p={shown}, needs < {PROMOTION_ALPHA})")
    better = fmean(values) < fmean(champion_values) if minimize else fmean(values) > fmean(champion_values)
    if better:
        return Decision(True, f"{ours} beats {champion}'s {theirs}")
    return Decision(False, f"{ours} does not beat {champion}'s {theirs}")


@dataclass(frozen=True)
class Registration:
    model_name: str
    version: str
    run_id: str
    configuration: str
    tags: dict[str, str]
    new_version: bool  # False when this run was already a version of the model
    alias: str = contract.CHAMPION_ALIAS  # champion, or challenger when it did not win
    reason: str = ""  # why it took that alias

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}@{self.alias}"

    def describe(self) -> str:
        described = [metric for metric in DESCRIBED_METRICS if metric in self.tags]
        if contract.MODEL_TEST_ACCURACY not in self.tags:
            described.append(TEST_METRIC)  # a run logged before the model's own numbers were
        scores = ", ".join(f"{metric}={self.tags[metric]}" for metric in described if metric in self.tags)
        verb = "Registered" if self.new_version else "Already registered:"
        reason = f" ({self.reason})" if self.reason else ""
        return (f"{verb} run {self.run_id} ({self.configuration}; {scores}) as version {self.version} "
                f"of model '{self.model_name}', alias {self.alias}: {self.uri}{reason}")


def check_model_name(name: str, key: str = "--register") -> None:
    if not is_model_name(name):
        raise ValueError(f"{key} = {name!r} is not allowed: expected {MODEL_NAME_ALLOWED}")


def check_promote(promote: str, key: str = "tracking.promote") -> None:
    if promote not in PROMOTE:
        raise ValueError(f"{key} = {promote!r} is not allowed: expected one of {', '.join(PROMOTE)}")


def register_sweep_winner(tracking_uri: str, experiment_id: str, parent_run_id: str, model_name: str,
                          rank_by: str | None = None, promote: str = PROMOTE_WHEN_BETTER) -> Registration:
    """Register the best run of the sweep whose parent run is `parent_run_id`, by `rank_by`
    (default: a search's objective, else best_val_accuracy; table.ranking_choice)."""
    selection = select_parent_run(tracking_uri, experiment_id, parent_run_id)
    return register_best_run(build_table(selection, rank_by=rank_by), model_name, promote)


def register_best_run(table: ComparisonTable, model_name: str, promote: str = PROMOTE_WHEN_BETTER) -> Registration:
    """Register the table's best run (ComparisonTable.best_run: finished, not pruned); its
    configuration's seeds are what the champion is compared with."""
    best = table.best_run()
    if best is None:
        raise ValueError(f"no run of {table.selection.describe()} can be registered: none FINISHED "
                         f"with {table.ranked_by} logged (failed, killed and pruned runs never are)")
    row = next(row for row in table.rows if best in row.runs)
    seed_values = [run.metrics[table.ranked_by] for run in row.runs
                   if not math.isnan(run.metrics.get(table.ranked_by, math.nan))]
    return register_run(table.selection.tracking_uri, best, model_name,
                        configuration=table.row_label(row), sweep_id=table.selection.sweep_id,
                        ranked_by=table.ranked_by, chosen_from=table.selection.describe(),
                        seed_values=seed_values, minimize=table.minimize, promote=promote)


def register_run(tracking_uri: str, run: JobRun, model_name: str, configuration: str,
                 sweep_id: str | None = None, ranked_by: str = DEFAULT_RANKING_METRIC,
                 chosen_from: str = "a single run", seed_values: list[float] | None = None,
                 minimize: bool = False, promote: str = PROMOTE_WHEN_BETTER) -> Registration:
    """Make `run`'s logged text model a version of `model_name` (a new one, unless
    this run already is one) and point alias `champion` at it when it beats the current
    champion on `ranked_by` (champion_decision; `seed_values`: its configuration's seeds,
    default the run alone), or always with `promote="always"`; else alias `challenger`."""
    check_model_name(model_name)
    check_promote(promote)
    if not run.can_win:
        state = f"pruned at epoch {run.pruned_at_epoch}" if run.pruned_at_epoch else run.status
        raise ValueError(f"run {run.run_id} is {state}: only FINISHED, unpruned runs are registered")
    client = MlflowClient(tracking_uri)
    model = _logged_model(client, run)
    version_tags = {contract.VERSION_RUN_ID: run.run_id, contract.VERSION_CONFIGURATION: configuration,
                    contract.RANKED_BY: ranked_by}
    if sweep_id:
        version_tags[contract.VERSION_SWEEP_ID] = sweep_id
    if seed_values is None:
        seed_values = [run.metrics[ranked_by]] if ranked_by in run.metrics else []
    if len(seed_values) > 1:
        version_tags[contract.VERSION_SEED_VALUES] = " ".join(f"{value:.6f}" for value in seed_values)
    for metric in dict.fromkeys((ranked_by, *REPORTED_METRICS)):
        if metric in run.metrics:
            measured = run.metrics[metric]
            version_tags[metric] = f"{measured:.0f}" if metric in contract.EPOCH_COUNT_METRICS else f"{measured:.6f}"

    _create_registered_model(client, model_name)
    existing = [version for version in client.search_model_versions(f"name = '{model_name}'")
                if version.run_id == run.run_id
                and version.source in (model.artifact_location, f"models:/{model.model_id}")]
    if existing:
        version, new_version = max(existing, key=lambda v: int(v.version)), False
        for key, value in version_tags.items():
            client.set_model_version_tag(model_name, version.version, key, value)
    else:
        # The source is the logged model's own location, not `models:/<model id>`:
        # a database store resolves that URI through the process's global tracking
        # URI (MLflow 3.17), which need not be this store. Tag logged_model_id links them.
        version = client.create_model_version(
            model_name, source=model.artifact_location, run_id=run.run_id,
            tags={**version_tags, contract.VERSION_LOGGED_MODEL_ID: model.model_id},
            description=f"Best by {ranked_by} of {chosen_from}: {configuration} (run {run.run_id})",
        )
        new_version = True
    decision = _promotion(client, model_name, str(version.version), seed_values, ranked_by, minimize, promote)
    alias = contract.CHAMPION_ALIAS if decision.promote else contract.CHALLENGER_ALIAS
    client.set_registered_model_alias(model_name, alias, version.version)
    return Registration(model_name, str(version.version), run.run_id, configuration, version_tags, new_version,
                        alias, decision.reason)


def _promotion(client: MlflowClient, model_name: str, version: str, values: list[float], metric: str,
               minimize: bool, promote: str) -> Decision:
    """Whether `version` takes the champion alias: always, first, again, or by beating the champion."""
    if promote == PROMOTE_ALWAYS:
        return Decision(True, f"tracking.promote={PROMOTE_ALWAYS}")
    try:
        champion = client.get_model_version_by_alias(model_name, contract.CHAMPION_ALIAS)
    except MlflowException:
        return Decision(True, "the first champion")
    if str(champion.version) == version:
        return Decision(True, "already the champion")
    return champion_decision(values, _champion_values(client, champion, metric), str(champion.version),
                             metric, minimize)


def _champion_values(client: MlflowClient, champion: ModelVersion, metric: str) -> list[float]:
    """The champion's `metric`: its configuration's seeds when it was ranked by that metric and
    had seeds, else its run's value; empty when it never logged that metric."""
    tags = champion.tags or {}
    if tags.get(contract.RANKED_BY) == metric and contract.VERSION_SEED_VALUES in tags:
        return [float(value) for value in tags[contract.VERSION_SEED_VALUES].split()]
    if champion.run_id:
        metrics = client.get_run(champion.run_id).data.metrics
        if metric in metrics:
            return [metrics[metric]]
    return []


def _logged_model(client: MlflowClient, run: JobRun) -> LoggedModel:
    """The text model the run logged (the latest, should a resumed run have logged two)."""
    experiment_id = client.get_run(run.run_id).info.experiment_id
    models = client.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"source_run_id = '{run.run_id}' AND name = '{contract.LOGGED_MODEL_NAME}'",
    )
    if not models:
        raise ValueError(f"run {run.run_id} ({run.run_name}) logged no model to register: it ran with "
                         "tracking.log_model=false; train it again with tracking.log_model=true sweep.rerun=all")
    return max(models, key=lambda model: model.creation_timestamp)


def _create_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(
            name, description="IMDB review sentiment from raw text, registered by imdb_sweep: "
                              f"alias {contract.CHAMPION_ALIAS} is the version that beat the champions "
                              f"before it, {contract.CHALLENGER_ALIAS} the latest that did not.")
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
