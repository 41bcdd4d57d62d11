"""What a sweep's parent run shows once its jobs have ended: the comparison table,
plots and best run (read by report/, written here), and with `tracking.register`
the winner registered. The grid's callback and the search sweeper both call
`publish_results` after ending the parent run.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.console import print_flushed
from imdb_sweep.process.interrupts import was_interrupted
from imdb_sweep.tracking.sweep_state import SweepState
from imdb_sweep.tracking.uris import browse_hint

# Where the sweep's comparison lands among the parent run's artifacts.
REPORT_ARTIFACT_DIR = "report"


def parent_metric_name(metric: str, prefix: str = "best_") -> str:
    """How the parent run names the chosen run's `metric`: `test_accuracy` ->
    `best_test_accuracy`, `best_val_accuracy` stays itself (no `best_best_`)."""
    return prefix + metric.removeprefix("best_")


def publish_sweep_report(tracking_uri: str, experiment_id: str, parent_run_id: str,
                         rank_by: str | None = None) -> str:
    """Attach the comparison to the sweep's parent run and return its Markdown.

    Artifacts under `report/`: comparison.md, .csv, .html (plots embedded),
    plots/*.png, and the factor effects as effects.csv and effects.json. The best job
    is chosen on `rank_by` (default: a search's objective,
    else best_val_accuracy), never on the test set, and never among pruned trials:
    tag `best_run_id` names it, tag `ranked_by` the metric that chose it, metrics
    `best_<metric>` (best_val_accuracy, best_test_accuracy, best_model_test_accuracy,
    best_model_epoch, ...) are its values. When seeds repeat, tag `best_configuration`
    and metrics `best_mean_val_accuracy`, `best_mean_test_accuracy`, ... name the best
    configuration and its means. A search
    adds its plots (search_plots.py), `report/search_importance.json` and tag
    `best_trial_number`. Works on a parent run that has already ended (MlflowClient
    writes to terminated runs).
    """
    # The report (pandas, scipy, matplotlib) is imported when a sweep ends, not by every
    # job's process, which builds the callback that imports this module.
    from imdb_sweep.report import build_table, load_curves, select_parent_run, summarize_search
    from imdb_sweep.report.conclusions import effects_records
    from imdb_sweep.report.formats import to_csv, to_effects_csv, to_html, to_markdown
    from imdb_sweep.report.search_plots import render_report_plots
    from imdb_sweep.report.table import DEFAULT_RANKING_METRIC, TEST_METRIC

    selection = select_parent_run(tracking_uri, experiment_id, parent_run_id)
    load_curves(selection)
    table = build_table(selection, rank_by=rank_by)
    markdown = to_markdown(table)
    search = summarize_search(selection)
    plots = render_report_plots(table, search)

    client = MlflowClient(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="imdb_sweep_report_") as folder:
        root = Path(folder)
        (root / "comparison.md").write_text(markdown, encoding="utf-8")
        (root / "comparison.csv").write_text(to_csv(table), encoding="utf-8")
        (root / "comparison.html").write_text(to_html(table, plots), encoding="utf-8")
        if table.effects.effects:
            (root / "effects.csv").write_text(to_effects_csv(table), encoding="utf-8")
            (root / "effects.json").write_text(json.dumps(
                {"effects": effects_records(table), "references": table.effects.references,
                 "notes": table.effects.notes}, indent=2) + "\n", encoding="utf-8")
        (root / "plots").mkdir()
        for name, data in plots.items():
            (root / "plots" / name).write_bytes(data)
        if search is not None:
            (root / "search_importance.json").write_text(json.dumps(
                {"objective": search.settings.objective, "evaluator": "fANOVA",
                 "complete_trials": search.importance.trials, "importance": search.importance.values,
                 "reason": search.importance.reason, "skipped": search.importance.skipped}, indent=2) + "\n",
                encoding="utf-8")
        client.log_artifacts(parent_run_id, folder, artifact_path=REPORT_ARTIFACT_DIR)

    client.set_tag(parent_run_id, contract.RANKED_BY, table.ranked_by)
    reported = list(dict.fromkeys((table.ranked_by, DEFAULT_RANKING_METRIC, TEST_METRIC,
                                   contract.MODEL_TEST_ACCURACY, contract.MODEL_EPOCH)))
    best = table.best_run()
    if best is not None:
        client.set_tag(parent_run_id, contract.BEST_RUN_ID, best.run_id)
        trial = next((trial for trial in search.trials if trial.run.run_id == best.run_id), None) if search else None
        if trial is not None and trial.number is not None:
            client.set_tag(parent_run_id, contract.BEST_TRIAL_NUMBER, str(trial.number))
        for metric in reported:
            if metric in best.metrics:
                client.log_metric(parent_run_id, parent_metric_name(metric), best.metrics[metric])
    if table.grouped_by_seed and table.rows and not math.isnan(table.rows[0].value(table.ranked_by)):
        best_row = table.rows[0]
        client.set_tag(parent_run_id, contract.BEST_CONFIGURATION, table.row_label(best_row))
        for metric in reported:
            if not math.isnan(best_row.value(metric)):
                client.log_metric(parent_run_id, parent_metric_name(metric, "best_mean_"),
                                  best_row.value(metric))
    return markdown


def publish_results(state: SweepState, register: str | None, promote: str = "when_better") -> None:
    """The comparison table on the parent run (and printed), the winner registered
    with `tracking.register` (champion as `tracking.promote` says), and where to browse it all."""
    try:
        # Attaches table, plots, best_run_id, ranked_by, best_val_accuracy and
        # best_test_accuracy to the parent run.
        print(publish_sweep_report(state.tracking_uri, state.experiment_id, state.parent_run_id), flush=True)
    except Exception as error:  # noqa: BLE001 - a table is no reason to fail the sweep
        print(f"(could not build the comparison table: {error})", file=sys.stderr)
    if register:
        register_winner(state, register, promote)
    print_flushed(browse_hint(state.tracking_uri, state.experiment_id, state.parent_run_id))


def register_winner(state: SweepState, model_name: str, promote: str = "when_better") -> None:
    """tracking.register: the best finished run into the model registry, alias champion
    when it beats the current one (or with tracking.promote=always), else challenger."""
    from imdb_sweep.registry import register_sweep_winner

    if was_interrupted():
        print(f"Not registering a winner as '{model_name}': the sweep was interrupted "
              f"(python -m imdb_sweep.report --sweep {state.sweep_id} --register {model_name} "
              "registers its best finished run)", file=sys.stderr, flush=True)
        return
    try:
        print_flushed(register_sweep_winner(state.tracking_uri, state.experiment_id, state.parent_run_id,
                                            model_name, promote=promote).describe())
    except Exception as error:  # noqa: BLE001 - said plainly; the sweep's runs are all recorded
        print(f"Could not register the sweep's best run as '{model_name}': {error}",
              file=sys.stderr, flush=True)
