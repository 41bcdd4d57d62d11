"""The sweep's winner into the MLflow model registry.

The best run by the ranking metric (validation, never the test set; a failed,
killed or pruned run never) becomes a new version of the registered model, with
alias `champion` moved to it, so `models:/<name>@champion` always names the
latest winner:

    registration = register_sweep_winner(uri, experiment_id, parent_run_id, "imdb-sentiment")
    print(registration.describe())
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.entities import LoggedModel
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.config.validation import MODEL_NAME_ALLOWED, is_model_name
from imdb_sweep.report.runs import JobRun, select_parent_run
from imdb_sweep.report.table import DEFAULT_RANKING_METRIC, TEST_METRIC, ComparisonTable, build_table

# A registered version's tags: where it came from (contract.VERSION_*, RANKED_BY) and
# how it scored: beside the ranking metric, the served model's epoch and test accuracy,
# and the seed's test_accuracy after the last epoch.
REPORTED_METRICS = (DEFAULT_RANKING_METRIC, contract.MODEL_EPOCH, contract.MODEL_TEST_ACCURACY, TEST_METRIC)
# What the one-line description names: the served model's numbers.
DESCRIBED_METRICS = (DEFAULT_RANKING_METRIC, contract.MODEL_EPOCH, contract.MODEL_TEST_ACCURACY)


@dataclass(frozen=True)
class Registration:
    model_name: str
    version: str
    run_id: str
    configuration: str
    tags: dict[str, str]
    new_version: bool  # False when this run was already a version of the model

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}@{contract.CHAMPION_ALIAS}"

    def describe(self) -> str:
        described = [metric for metric in DESCRIBED_METRICS if metric in self.tags]
        if contract.MODEL_TEST_ACCURACY not in self.tags:
            described.append(TEST_METRIC)  # a run logged before the model's own numbers were
        scores = ", ".join(f"{metric}={self.tags[metric]}" for metric in described if metric in self.tags)
        verb = "Registered" if self.new_version else "Already registered:"
        return (f"{verb} run {self.run_id} ({self.configuration}; {scores}) as version {self.version} "
                f"of model '{self.model_name}', alias {contract.CHAMPION_ALIAS}: {self.uri}")


def check_model_name(name: str, key: str = "--register") -> None:
    if not is_model_name(name):
        raise ValueError(f"{key} = {name!r} is not allowed: expected {MODEL_NAME_ALLOWED}")


def register_sweep_winner(tracking_uri: str, experiment_id: str, parent_run_id: str, model_name: str,
                          rank_by: str | None = None) -> Registration:
    """Register the best run of the sweep whose parent run is `parent_run_id`, by `rank_by`
    (default: a search's objective, else best_val_accuracy; table.ranking_choice)."""
    selection = select_parent_run(tracking_uri, experiment_id, parent_run_id)
    return register_best_run(build_table(selection, rank_by=rank_by), model_name)


def register_best_run(table: ComparisonTable, model_name: str) -> Registration:
    """Register the table's best run (ComparisonTable.best_run: finished, not pruned)."""
    best = table.best_run()
    if best is None:
        raise ValueError(f"no run of {table.selection.describe()} can be registered: none FINISHED "
                         f"with {table.ranked_by} logged (failed, killed and pruned runs never are)")
    row = next(row for row in table.rows if best in row.runs)
    return register_run(table.selection.tracking_uri, best, model_name,
                        configuration=table.row_label(row), sweep_id=table.selection.sweep_id,
                        ranked_by=table.ranked_by, chosen_from=table.selection.describe())


def register_run(tracking_uri: str, run: JobRun, model_name: str, configuration: str,
                 sweep_id: str | None = None, ranked_by: str = DEFAULT_RANKING_METRIC,
                 chosen_from: str = "a single run") -> Registration:
    """Make `run`'s logged text model a version of `model_name` (a new one, unless
    this run already is one) and point alias `champion` at it."""
    check_model_name(model_name)
    if not run.can_win:
        state = f"pruned at epoch {run.pruned_at_epoch}" if run.pruned_at_epoch else run.status
        raise ValueError(f"run {run.run_id} is {state}: only FINISHED, unpruned runs are registered")
    client = MlflowClient(tracking_uri)
    model = _logged_model(client, run)
    version_tags = {contract.VERSION_RUN_ID: run.run_id, contract.VERSION_CONFIGURATION: configuration,
                    contract.RANKED_BY: ranked_by}
    if sweep_id:
        version_tags[contract.VERSION_SWEEP_ID] = sweep_id
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
    client.set_registered_model_alias(model_name, contract.CHAMPION_ALIAS, version.version)
    return Registration(model_name, str(version.version), run.run_id, configuration, version_tags, new_version)


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
                              f"alias {contract.CHAMPION_ALIAS} is the latest sweep winner.")
    except MlflowException as error:
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
