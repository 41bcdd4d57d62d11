"""`imdb_sweep.report`: selection, varying columns, seed statistics, formats, plots,
the parent run's artifacts, and the HTML page as headless Chromium renders it."""

from __future__ import annotations

import io
import json
import math
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from scipy import stats

from imdb_sweep import contract
from imdb_sweep.report import (
    build_table,
    load_curves,
    parse_baseline,
    render,
    select_runs,
)
from imdb_sweep.report.__main__ import build_parser, choose_format
from imdb_sweep.report.__main__ import main as report_main
from imdb_sweep.report.plots import render_plots
from imdb_sweep.report.runs import JobRun
from imdb_sweep.report.stats import summarize, welch_test
from imdb_sweep.report.table import short_labels, varying_params
from imdb_sweep.sweep.publishing import publish_sweep_report
from imdb_sweep.tracking import records
from tests.helpers.cli import TINY as SHARED_TINY
from tests.helpers.cli import cli_environment, run_cli
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.report_runs import EXPERIMENT, PNG_SIGNATURE, FakeSweeps, job_params

TINY = [*SHARED_TINY, "train.epochs=2"]

# Test accuracies per configuration, chosen so that n, spread and means all differ.
ACCURACIES = {"32": [0.80, 0.82, 0.87], "64": [0.75, 0.79, 0.78, 0.74], "128": [0.70]}


# ---------------------------------------------------------------------------
# Runs logged directly with MlflowClient: exact numbers, no training
# ---------------------------------------------------------------------------


@pytest.fixture()
def store(tmp_path: Path) -> FakeSweeps:
    return FakeSweeps(tmp_path / "store")


@pytest.fixture(scope="module")
def seeded_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeSweeps, str]:
    """An older sweep, then a newer one with three configurations and unequal seed counts,
    plus a failed and a killed job. Shared by the module's tests: they only read it."""
    store = FakeSweeps(tmp_path_factory.mktemp("seeded") / "store")
    old = store.sweep("old-sweep")
    store.job(old, job_params("16", 0), 0.5, sweep_id="old-sweep")
    parent = store.sweep("new-sweep")
    for units, values in ACCURACIES.items():
        for seed, value in enumerate(values):
            store.job(parent, job_params(units, seed), value, sweep_id="new-sweep")
    store.job(parent, job_params("256", 0), None, status="FAILED", sweep_id="new-sweep")
    store.job(parent, job_params("512", 0), None, status="KILLED", sweep_id="new-sweep")
    return store, parent


def test_varying_params_ignore_storage_keys_and_put_the_seed_last():
    runs = [JobRun(str(index), f"run{index}", "FINISHED", index, {key: str(value) for key, value in params.items()}, {})
            for index, params in enumerate([job_params("32", 0), job_params("64", 1), job_params("64", 2)])]
    assert varying_params(runs) == ["variant", "model.units", "seed"]
    assert short_labels(["variant", "model.units", "seed"]) == {
        "variant": "variant", "model.units": "units", "seed": "seed"}
    # Two keys sharing a last segment keep enough of their path to tell them apart.
    assert short_labels(["model.dropout", "data.dropout", "train.loss"]) == {
        "model.dropout": "model.dropout", "data.dropout": "data.dropout", "train.loss": "loss"}


def test_seeds_group_into_mean_std_and_t_interval(seeded_sweep):
    store, parent = seeded_sweep
    selection = select_runs(store.uri, EXPERIMENT)
    assert selection.parent_run_id == parent and selection.sweep_id == "new-sweep"
    table = build_table(selection)

    assert table.grouped_by_seed
    assert table.param_keys == ["variant", "model.units"]  # seed and storage keys are not columns
    assert [row.params["model.units"] for row in table.rows] == [32, 64, 128]  # best first, typed
    assert [row.is_best for row in table.rows] == [True, False, False]
    for row in table.rows:
        values = ACCURACIES[str(row.params["model.units"])]
        summary = row.summaries["test_accuracy"]
        assert summary.n == row.n == len(values)
        assert summary.mean == pytest.approx(statistics.fmean(values))
        if len(values) == 1:
            assert math.isnan(summary.std) and math.isnan(summary.ci_low)
            continue
        std = statistics.stdev(values)
        assert summary.std == pytest.approx(std)
        # The 97.5% Student t quantile: 4.3027 for 2 degrees of freedom, 3.1824 for 3 (tables).
        quantile = {3: 4.302652729911275, 4: 3.182446305284263}[len(values)]
        half_width = quantile * std / math.sqrt(len(values))
        assert summary.ci_low == pytest.approx(statistics.fmean(values) - half_width)
        assert summary.ci_high == pytest.approx(statistics.fmean(values) + half_width)


def test_baseline_difference_and_welch_p_value_match_scipy(seeded_sweep):
    store, _ = seeded_sweep
    table = build_table(select_runs(store.uri, EXPERIMENT), parse_baseline("variant=baseline"))
    rows = {str(row.params["model.units"]): row for row in table.rows}
    assert rows["32"].is_baseline and rows["32"].comparison.difference == 0
    challenger, baseline = ACCURACIES["64"], ACCURACIES["32"]
    expected = stats.ttest_ind(challenger, baseline, equal_var=False)
    assert rows["64"].comparison.difference == pytest.approx(statistics.fmean(challenger) - statistics.fmean(baseline))
    assert rows["64"].comparison.p_value == pytest.approx(expected.pvalue)
    # The same p-value from Welch's formula, written out.
    variance_a = statistics.variance(challenger) / len(challenger)
    variance_b = statistics.variance(baseline) / len(baseline)
    t_value = (statistics.fmean(challenger) - statistics.fmean(baseline)) / math.sqrt(variance_a + variance_b)
    freedom = (variance_a + variance_b) ** 2 / (variance_a ** 2 / (len(challenger) - 1)
                                                + variance_b ** 2 / (len(baseline) - 1))
    assert rows["64"].comparison.p_value == pytest.approx(2 * stats.t.sf(abs(t_value), freedom))
    # One run has no spread: the difference is shown, the test is not.
    assert math.isnan(rows["128"].comparison.p_value)
    assert rows["128"].comparison.difference == pytest.approx(0.70 - statistics.fmean(baseline))
    # A short key works as well as the full one.
    short = build_table(select_runs(store.uri, EXPERIMENT), parse_baseline("units=64"))
    assert [row.params["model.units"] for row in short.rows if row.is_baseline] == [64]


def test_statistics_edge_cases():
    assert summarize([]).n == 0 and math.isnan(summarize([]).mean)
    assert summarize([0.5]).mean == 0.5 and math.isnan(summarize([0.5]).std)
    constant = welch_test([0.5, 0.5], [0.5, 0.5])
    assert constant.difference == 0 and math.isnan(constant.p_value)


def test_failed_and_killed_runs_are_listed_apart(seeded_sweep):
    store, _ = seeded_sweep
    selection = select_runs(store.uri, EXPERIMENT)
    table = build_table(selection)
    assert sorted(run.status for run in selection.not_finished) == ["FAILED", "KILLED"]
    assert all(run.status == "FINISHED" for row in table.rows for run in row.runs)
    markdown = render(table, "markdown")
    ranking, _, apart = markdown.partition("Not ranked")
    assert "256" not in ranking and "FAILED" in apart and "KILLED" in apart
    document = json.loads(render(table, "json"))
    assert {run["status"] for run in document["not_finished"]} == {"FAILED", "KILLED"}


def test_selection_by_sweep_id_all_runs_and_helpful_errors(seeded_sweep):
    store, parent = seeded_sweep
    old = select_runs(store.uri, EXPERIMENT, sweep="old-sweep")
    assert old.sweep_id == "old-sweep" and len(old.finished) == 1
    assert select_runs(store.uri, EXPERIMENT, sweep=parent).sweep_id == "new-sweep"
    everything = select_runs(store.uri, EXPERIMENT, every_run=True)
    assert len(everything.finished) == 1 + sum(len(values) for values in ACCURACIES.values())
    assert everything.sweep_id is None

    with pytest.raises(ValueError, match=r"experiment 'nope' not found in the tracking store sqlite:///.*'imdb-sweep'"):
        select_runs(store.uri, "nope")
    with pytest.raises(ValueError, match=r"no sweep 'missing' in experiment 'imdb-sweep'.*new-sweep, old-sweep"):
        select_runs(store.uri, EXPERIMENT, sweep="missing")
    with pytest.raises(ValueError, match="matches none of the configurations"):
        build_table(select_runs(store.uri, EXPERIMENT), parse_baseline("units=3"))
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_baseline("baseline")


def test_single_runs_per_configuration_show_plain_values(store):
    with pytest.raises(ValueError, match=r"no sweep found in experiment 'imdb-sweep' of the tracking store sqlite:///"):
        select_runs(store.uri, EXPERIMENT)
    parent = store.sweep("grid")
    for units, accuracy in (("32", 0.81), ("64", 0.84)):
        store.job(parent, job_params(units, 0), accuracy, sweep_id="grid")
    table = build_table(select_runs(store.uri, EXPERIMENT))
    assert not table.grouped_by_seed and [row.n for row in table.rows] == [1, 1]
    markdown = render(table, "markdown")
    assert ("| variant | units | best_val_accuracy | test_accuracy | model_test_accuracy | model_epoch | test_loss |"
            in markdown)
    comparison = markdown.split("\n### ")[0]  # the factor effects below it have CI columns
    assert "**0.8500**" in comparison and "±" not in comparison and "95% CI" not in comparison


def test_the_logged_models_epoch_and_test_accuracy_are_shown_and_blank_for_older_runs(store):
    parent = store.sweep("grid")
    newer = store.job(parent, job_params("64", 0), 0.84, sweep_id="grid")
    store.client.log_metric(newer, "model_epoch", 2.0)
    store.client.log_metric(newer, "model_test_accuracy", 0.8512)
    store.job(parent, job_params("32", 0), 0.81, sweep_id="grid")  # logged before the model's numbers
    table = build_table(select_runs(store.uri, EXPERIMENT))
    markdown = render(table, "markdown")
    (newer_line,) = (line for line in markdown.splitlines() if line.startswith("| units64 |"))
    (older_line,) = (line for line in markdown.splitlines() if line.startswith("| baseline |"))
    # The cells after test_accuracy: model_test_accuracy, then model_epoch as a whole number.
    assert "| 0.8400 | 0.8512 | 2 | 0.1600 |" in newer_line
    assert "| 0.8100 |  |  | 0.1900 |" in older_line
    frame = pd.read_csv(io.StringIO(render(table, "csv")))
    assert frame["model_epoch"].tolist()[0] == 2 and math.isnan(frame["model_test_accuracy"].tolist()[1])
    publish_sweep_report(store.uri, store.experiment_id, parent)
    chosen = store.client.get_run(parent).data.metrics
    assert (chosen["best_model_test_accuracy"], chosen["best_model_epoch"]) == (0.8512, 2.0)


def test_params_are_read_back_as_the_config_had_them():
    for value in (64, -1, 0.001, 1e-05, 0.30012345678, 0.0, True, False, None, "relu", "per_occurrence",
                  "glob(*)", "/data/aclImdb_v1.tar.gz"):
        assert records.param_from_text(records.param_text(value)) == value, value
        assert type(records.param_from_text(records.param_text(value))) is type(value), value


def test_csv_and_json_keep_the_types_of_params_and_epoch_counts(store):
    parent = store.sweep("typed")
    for units, dropout, fused, patience, accuracy in ((32, 0.0, False, None, 0.81), (64, 0.5, True, 2, 0.84)):
        params = {"model.units": units, "model.dropout": dropout, "runtime.fuse_steps": fused,
                  "train.early_stopping_patience": patience, "seed": 0}
        run_id = store.job(parent, {}, accuracy, sweep_id="typed")
        # Logged as a job logs them (records.log_params): MLflow keeps text.
        store.client.log_batch(run_id, params=[Param(key, records.param_text(value)) for key, value in params.items()])
    table = build_table(select_runs(store.uri, EXPERIMENT))
    assert not table.grouped_by_seed

    lines = render(table, "csv").splitlines()
    header = lines[0].split(",")
    best = dict(zip(header, lines[1].split(",")))
    assert best["model.units"] == "64" and best["model.dropout"] == "0.5"
    assert best["runtime.fuse_steps"] == "True" and best["train.early_stopping_patience"] == "2"
    assert best["best_epoch"] == "1"  # logged as the float 1.0; an epoch is a whole number
    assert dict(zip(header, lines[2].split(",")))["train.early_stopping_patience"] == ""  # null

    rows = json.loads(render(table, "json"))["rows"]
    assert [(row["model.units"], row["model.dropout"], row["runtime.fuse_steps"],
             row["train.early_stopping_patience"]) for row in rows] == [(64, 0.5, True, 2), (32, 0.0, False, None)]
    assert [type(row["best_epoch"]) for row in rows] == [int, int] and type(rows[0]["test_accuracy"]) is float

    markdown = render(table, "markdown")
    assert "| 0.0 | 32 | null | False |" in markdown  # null shown as the config writes it; runtime after train


def test_every_format_parses(seeded_sweep):
    store, _ = seeded_sweep
    selection = select_runs(store.uri, EXPERIMENT)
    load_curves(selection)
    table = build_table(selection, parse_baseline("variant=baseline"))

    frame = pd.read_csv(io.StringIO(render(table, "csv")))
    assert len(frame) == 3 and list(frame["model.units"]) == [32, 64, 128]
    assert list(frame["n"]) == [3, 4, 1] and frame["is_best"].tolist() == [True, False, False]
    assert frame.loc[0, "test_accuracy"] == pytest.approx(statistics.fmean(ACCURACIES["32"]))
    assert math.isnan(frame.loc[2, "test_accuracy_std"])

    document = json.loads(render(table, "json"))
    assert document["columns"][1] == {"key": "model.units", "label": "units"}
    assert [row["model.units"] for row in document["rows"]] == [32, 64, 128]  # as the config had them
    assert document["rows"][2]["test_accuracy_std"] is None and len(document["rows"][1]["run_ids"]) == 4
    assert document["rows"][1]["welch_p_value"] == pytest.approx(
        stats.ttest_ind(ACCURACIES["64"], ACCURACIES["32"], equal_var=False).pvalue)

    markdown = render(table, "markdown")
    assert ("| variant | units | best_val_accuracy (mean ± std) | test_accuracy (mean ± std) | 95% CI | n "
            "| Δ vs baseline | p (Welch) |") in markdown
    assert markdown.count("**") == 2

    latex = render(table, "latex")
    assert "\\begin{tabular}" in latex and "\\textbf{" in latex and "units64" in latex

    page = render(table, "html", render_plots(table))
    comparison = page.split('<table id="comparison">')[1].split("</table>")[0]
    assert comparison.count("<tr") == 1 + 3  # header, ranked rows
    assert page.split('<table id="not-finished">')[1].split("</table>")[0].count("<tr") == 1 + 2
    assert page.count('src="data:image/png;base64,') == 4


def test_plots_are_readable_pngs(seeded_sweep):
    store, _ = seeded_sweep
    selection = select_runs(store.uri, EXPERIMENT)
    load_curves(selection)
    pngs = render_plots(build_table(selection))
    assert set(pngs) == {"val_accuracy.png", "val_loss.png", "test_accuracy.png", "expected_best.png"}
    for name, data in pngs.items():
        assert data.startswith(PNG_SIGNATURE), name
        image = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert image.shape[0] > 200 and image.shape[1] > 300, name
        assert image[..., :3].std() > 0.05, f"{name} looks blank"


def test_cli_writes_files_and_explains_bad_input(seeded_sweep, tmp_path, monkeypatch, capsys):
    store, _ = seeded_sweep
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    output = tmp_path / "out" / "table.csv"
    assert report_main(["--format", "csv", "--output", str(output), "--plots", str(tmp_path / "plots")]) == 0
    assert len(pd.read_csv(output)) == 3
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == [
        "expected_best.png", "test_accuracy.png", "val_accuracy.png", "val_loss.png"]
    effects = pd.read_csv(output.with_suffix(".effects.csv"))  # one CSV is one table: effects beside it
    assert set(effects["key"]) == {"variant"} and set(effects["reference"]) == {"baseline"}
    assert report_main(["--output", str(tmp_path / "table.json")]) == 0  # format from the suffix
    assert json.loads((tmp_path / "table.json").read_text())["sweep_id"] == "new-sweep"

    assert report_main(["--experiment", "nope"]) == 2
    assert "experiment 'nope' not found" in capsys.readouterr().err
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert report_main(["--store-dir", str(tmp_path / "nowhere")]) == 2
    assert f"no tracking store at sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}" in capsys.readouterr().err


def test_file_suffixes_name_formats_on_the_command_line(seeded_sweep, tmp_path, monkeypatch, capsys):
    store, _ = seeded_sweep
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    help_text = " ".join(build_parser().format_help().split())
    assert "markdown (md), csv, html (htm), json, latex (tex)" in help_text

    assert report_main(["--format", "md"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("## Sweep new-sweep") and "| variant | units |" in markdown
    assert report_main(["--format", "MD"]) == 0 and capsys.readouterr().out == markdown
    assert report_main(["--format", "tex"]) == 0 and "\\begin{tabular}" in capsys.readouterr().out
    page = tmp_path / "report.page"
    assert report_main(["--format", "htm", "--output", str(page)]) == 0
    assert page.read_text().startswith("<!DOCTYPE html>")
    # Without --format the output's suffix decides, aliases and full names alike.
    for suffix, expected in ((".md", "markdown"), (".htm", "html"), (".tex", "latex"),
                             (".latex", "latex"), (".html", "html"), (".unknown", "markdown")):
        assert choose_format(None, Path(f"table{suffix}")) == expected
    assert choose_format("htm", Path("table.csv")) == "html"  # --format wins over the suffix

    with pytest.raises(SystemExit):
        report_main(["--format", "xls"])
    assert "invalid choice: 'xls'" in capsys.readouterr().err
    table = build_table(select_runs(store.uri, EXPERIMENT))
    assert render(table, "md") == render(table, "markdown")
    with pytest.raises(ValueError, match=r"unknown format 'xls': expected one of markdown \(md\)"):
        render(table, "xls")


# (validation, test) accuracy per seed: the validation ranking is the reverse of the test one.
DISAGREEING = {"32": [(0.90, 0.80), (0.88, 0.81)], "64": [(0.86, 0.85), (0.87, 0.86)], "128": [(0.84, 0.87)]}


@pytest.fixture(scope="module")
def disagreeing_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeSweeps, str]:
    store = FakeSweeps(tmp_path_factory.mktemp("disagreeing") / "store")
    parent = store.sweep("val-vs-test")
    for units, pairs in DISAGREEING.items():
        for seed, (validation, test) in enumerate(pairs):
            store.job(parent, job_params(units, seed), test, sweep_id="val-vs-test",
                      validation_accuracy=validation)
    return store, parent


def test_rows_are_ranked_and_the_best_chosen_on_validation_not_test(disagreeing_sweep):
    store, _ = disagreeing_sweep
    table = build_table(select_runs(store.uri, EXPERIMENT))
    assert table.ranked_by == "best_val_accuracy"
    assert [row.params["model.units"] for row in table.rows] == [32, 64, 128]
    assert [row.is_best for row in table.rows] == [True, False, False]
    best = table.best_run()
    assert (best.metrics["best_val_accuracy"], best.metrics["test_accuracy"]) == (0.90, 0.80)

    markdown = render(table, "markdown")
    assert markdown.splitlines()[0].endswith("ranked by best_val_accuracy")
    # The ranking metric first and in bold, the test accuracy beside it, not bold.
    assert "| baseline | 32 | **0.8900 ± 0.0141** | 0.8050 ± 0.0071 |" in markdown
    assert "Ranked by best_val_accuracy (higher is better)" in markdown
    assert "test_accuracy is reported beside it and plays no part in the choice" in markdown
    assert json.loads(render(table, "json"))["ranked_by"] == "best_val_accuracy"
    assert "Ranked by best\\_val\\_accuracy" in render(table, "latex")

    on_test = build_table(select_runs(store.uri, EXPERIMENT), rank_by="test_accuracy")
    assert [row.params["model.units"] for row in on_test.rows] == [128, 64, 32]
    assert on_test.best_run().metrics["test_accuracy"] == 0.87
    assert "the best row's test_accuracy is an optimistic estimate" in render(on_test, "markdown")
    # Losses rank lowest first.
    on_loss = build_table(select_runs(store.uri, EXPERIMENT), rank_by="test_loss")
    assert [row.params["model.units"] for row in on_loss.rows] == [128, 64, 32]
    assert "Ranked by test_loss (lower is better)" in render(on_loss, "markdown")
    assert "the best row's test_loss is an optimistic estimate" in render(on_loss, "markdown")

    with pytest.raises(ValueError, match=r"--rank-by 'val_acc': no selected run logged that metric; "
                                         r"metrics available: best_epoch, best_val_accuracy, "
                                         r"final_val_accuracy, test_accuracy, test_loss, train_seconds, "
                                         r"val_accuracy, val_loss"):
        build_table(select_runs(store.uri, EXPERIMENT), rank_by="val_acc")


def test_cli_rank_by(disagreeing_sweep, monkeypatch, capsys):
    store, _ = disagreeing_sweep
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    assert "--rank-by METRIC" in build_parser().format_help()
    assert report_main(["--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ranked_by"] == "best_val_accuracy"
    assert [row["model.units"] for row in document["rows"]] == [32, 64, 128]
    assert report_main(["--format", "json", "--rank-by", "test_accuracy"]) == 0
    assert [row["model.units"] for row in json.loads(capsys.readouterr().out)["rows"]] == [128, 64, 32]

    assert report_main(["--rank-by", "accuracy_on_test"]) == 2
    error = capsys.readouterr().err
    assert "Error: --rank-by 'accuracy_on_test': no selected run logged that metric" in error
    assert "metrics available: best_epoch, best_val_accuracy," in error


def test_the_parent_run_records_the_validation_choice(disagreeing_sweep):
    store, parent = disagreeing_sweep
    markdown = publish_sweep_report(store.uri, store.experiment_id, parent)
    assert "**0.8900 ± 0.0141**" in markdown
    recorded = store.client.get_run(parent).data
    chosen = store.client.get_run(recorded.tags["best_run_id"]).data
    assert (chosen.params["model.units"], chosen.metrics["best_val_accuracy"]) == ("32", 0.90)
    assert recorded.tags["ranked_by"] == "best_val_accuracy"
    assert recorded.metrics["best_val_accuracy"] == pytest.approx(0.90)
    assert recorded.metrics["best_test_accuracy"] == pytest.approx(0.80)  # not the 0.87 of another run
    assert recorded.tags["best_configuration"] == "variant=baseline, units=32"
    assert recorded.metrics["best_mean_val_accuracy"] == pytest.approx(0.89)
    assert recorded.metrics["best_mean_test_accuracy"] == pytest.approx(0.805)


# ---------------------------------------------------------------------------
# Runs really logged by one short sweep: 2 configurations x 3 seeds, 2 epochs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_sweep(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """One `python -m imdb_sweep -m seed=0,1,2 model.units=8,16` into the default store."""
    cwd = tmp_path_factory.mktemp("report_sweep")
    result = run_cli(["-m", "seed=0,1,2", "model.units=8,16", *TINY], cwd=cwd,
                     env=cli_environment(tiny_archive, cwd / "cache"))
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd, f"sqlite:///{cwd / 'mlflow.db'}", result


@pytest.mark.slow
def test_a_real_sweep_groups_its_seeds(real_sweep):
    _, uri, _ = real_sweep
    table = build_table(select_runs(uri, EXPERIMENT))
    assert table.grouped_by_seed and table.param_keys == ["model.units"]
    assert sorted(row.params["model.units"] for row in table.rows) == [8, 16]
    for row in table.rows:
        assert sorted(run.params["seed"] for run in row.runs) == [0, 1, 2]
        values = [run.metrics["test_accuracy"] for run in row.runs]
        assert row.summaries["test_accuracy"].mean == pytest.approx(statistics.fmean(values))
        assert row.summaries["test_accuracy"].std == pytest.approx(statistics.stdev(values))
        low, high = stats.t.interval(0.95, len(values) - 1, loc=statistics.fmean(values),
                                     scale=statistics.stdev(values) / math.sqrt(len(values)))
        assert (row.summaries["test_accuracy"].ci_low, row.summaries["test_accuracy"].ci_high) == (
            pytest.approx(low), pytest.approx(high))
    means = [row.value("best_val_accuracy") for row in table.rows]
    assert means == sorted(means, reverse=True)


@pytest.mark.slow
def test_the_parent_run_carries_the_comparison(real_sweep):
    _, uri, result = real_sweep
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    jobs = [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]
    assert parent.info.status == "FINISHED" and len(jobs) == 6

    # Chosen on validation; its test accuracy is reported, whatever the other runs scored on test.
    best_value = max(run.data.metrics["best_val_accuracy"] for run in jobs)
    chosen = {run.info.run_id: run for run in jobs if run.data.metrics["best_val_accuracy"] == best_value}
    assert parent.data.tags["best_run_id"] in chosen and parent.data.tags["ranked_by"] == "best_val_accuracy"
    best = chosen[parent.data.tags["best_run_id"]]
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best_value)
    assert parent.data.metrics["best_test_accuracy"] == pytest.approx(best.data.metrics["test_accuracy"])
    assert "best_mean_test_accuracy" in parent.data.metrics and "best_mean_val_accuracy" in parent.data.metrics

    artifacts = {item.path for item in client.list_artifacts(parent.info.run_id, "report")}
    assert artifacts == {"report/comparison.md", "report/comparison.csv", "report/comparison.html",
                         "report/effects.csv", "report/effects.json", "report/plots"}
    effects = json.loads(Path(client.download_artifacts(parent.info.run_id, "report/effects.json")).read_text())
    # The default's 32 units did not run: the first level is the reference.
    assert effects["references"] == {"model.units": "8"}
    plots = {item.path: item.file_size for item in client.list_artifacts(parent.info.run_id, "report/plots")}
    assert set(plots) == {f"report/plots/{name}"
                          for name in ("val_accuracy.png", "val_loss.png", "test_accuracy.png", "expected_best.png")}
    assert all(size > 1000 for size in plots.values())
    published = Path(client.download_artifacts(parent.info.run_id, "report/comparison.md"))
    # The console shows the same table when the sweep ends.
    assert published.read_text() in result.stdout
    assert "| units | best_val_accuracy (mean ± std) | test_accuracy (mean ± std) | 95% CI | n |" in result.stdout


@pytest.mark.slow
def test_publishing_works_on_an_ended_parent_run_of_a_server(mlflow_server, tmp_path):
    client = MlflowClient(mlflow_server)
    experiment_id = client.create_experiment(f"publish-{tmp_path.name}")
    parent = client.create_run(experiment_id, tags={contract.ROLE: "sweep", contract.SWEEP_ID: "s"})
    # The seed better on validation is the worse one on test: the validation winner is reported.
    for seed, (validation, accuracy) in enumerate(((0.81, 0.7), (0.79, 0.8))):
        job = client.create_run(experiment_id, tags={contract.ROLE: "job",
                                                     contract.PARENT_RUN_ID: parent.info.run_id})
        client.log_batch(job.info.run_id, metrics=[Metric("test_accuracy", accuracy, 0, 0),
                                                   Metric("best_val_accuracy", validation, 0, 0)],
                         params=[Param("seed", str(seed)), Param("model.units", "8")])
        client.set_terminated(job.info.run_id)
    client.set_terminated(parent.info.run_id)

    markdown = publish_sweep_report(mlflow_server, experiment_id, parent.info.run_id)
    assert "0.7500 ± 0.0707" in markdown
    ended = client.get_run(parent.info.run_id)
    assert ended.info.status == "FINISHED" and ended.data.metrics["best_test_accuracy"] == pytest.approx(0.7)
    assert ended.data.metrics["best_val_accuracy"] == pytest.approx(0.81)
    assert "report/comparison.html" in {item.path for item in client.list_artifacts(parent.info.run_id, "report")}


# ---------------------------------------------------------------------------
# The HTML report in a real browser
# ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(arguments: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                    "(apt-get install chromium; .ci/run installs it)")
def test_the_html_report_renders_in_chromium(real_sweep, tmp_path):
    cwd, _, _ = real_sweep
    page = tmp_path / "report.html"
    # As a user runs it: in the sweep's folder, default store, no MLFLOW_TRACKING_URI.
    environment = {key: value for key, value in __import__("os").environ.items() if key != "MLFLOW_TRACKING_URI"}
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    result = subprocess.run([sys.executable, "-m", "imdb_sweep.report", "--format", "html", "--output", str(page)],
                            cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr

    dom = chromium(["--dump-dom", page.as_uri()], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    ranked = dom.stdout.split('<table id="comparison">', 1)[1].split("</table>", 1)[0]
    assert ranked.count("<tr") == 1 + 2  # header and one row per configuration
    assert "units" in ranked and "95% CI" in ranked
    assert dom.stdout.count('src="data:image/png;base64,') == 4  # the three plots of the table and the expected best

    screenshot = tmp_path / "report.png"
    shot = chromium(["--window-size=1280,900", f"--screenshot={screenshot}", page.as_uri()],
                    tmp_path / "profile-shot")
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    image = matplotlib.image.imread(screenshot)
    # The table sits at the top of the page: that band is drawn, not blank white.
    top = image[: image.shape[0] // 3, :, :3]
    assert (top < 0.9).mean() > 0.01


def test_the_report_never_imports_keras_or_tensorflow():
    # In its own interpreter: other tests in this session have imported TensorFlow.
    code = ("import sys, imdb_sweep.report.__main__, imdb_sweep.report.plots; "
            "loaded = [name for name in ('keras', 'tensorflow', 'imdb_sweep.training', "
            "'imdb_sweep.data') if name in sys.modules]; print(loaded); sys.exit(1 if loaded else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
