"""The report of a sweep across model families: each family's own keys in one "model
settings" cell in the human formats (every key its own column in CSV and JSON), and an
HTML page that fits a laptop screen in headless Chromium."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from imdb_sweep.report import build_table, load_curves, render, select_runs
from imdb_sweep.report.columns import SETTINGS_HEADER
from imdb_sweep.report.formats import display_cells, display_headers
from imdb_sweep.report.plots import render_plots
from imdb_sweep.report.table import ComparisonTable
from imdb_sweep.tracking.records import param_texts
from tests.helpers.chromium import CHROMIUM, layout_facts
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.report_runs import EXPERIMENT, FakeSweeps

FAMILIES = ("dense", "conv1d", "rnn", "bag_of_ngrams", "transformer")
# Validation accuracies in ranking order: the transformer first, dense last.
VALIDATION = {"transformer": 0.88, "rnn": 0.87, "bag_of_ngrams": 0.86, "conv1d": 0.85, "dense": 0.84}


def family_keys(family: str) -> dict[str, object]:
    """A family's keys and defaults from the real conf/model/FAMILY.yaml, as `model.KEY`."""
    keys = yaml.safe_load((PROJECT_ROOT / "conf" / "model" / f"{family}.yaml").read_text())
    return {f"model.{key}": value for key, value in keys.items()}


@pytest.fixture(scope="module")
def family_table(tmp_path_factory: pytest.TempPathFactory) -> ComparisonTable:
    store = FakeSweeps(tmp_path_factory.mktemp("families") / "store")
    parent = store.sweep("families")
    for family in FAMILIES:
        params = param_texts({**family_keys(family), "train.epochs": 2, "data.num_words": 10000, "seed": 42})
        store.job(parent, params, test_accuracy=VALIDATION[family] - 0.01, sweep_id="families",
                  validation_accuracy=VALIDATION[family])
    selection = select_runs(store.uri, EXPERIMENT)
    load_curves(selection)
    return build_table(selection)


def test_family_keys_share_one_settings_column(family_table):
    table = family_table
    # The table itself keeps every key that varies (a family's keys are missing elsewhere).
    assert {"model.family", "model.cell", "model.filters", "model.heads", "model.ngrams",
            "model.hidden_layers"} <= set(table.param_keys)
    headers = display_headers(table)
    assert headers[:3] == ["family", SETTINGS_HEADER, "best_val_accuracy"]
    assert not {"cell", "filters", "heads", "ngrams", "hidden_layers"} & set(headers)
    rows = {row.params["model.family"]: display_cells(table, row, short_ids=True) for row in table.rows}
    assert [row.params["model.family"] for row in table.rows] == sorted(VALIDATION, key=VALIDATION.get,
                                                                         reverse=True)
    # Each row names its own family's keys, in column order, and none of the others'.
    assert rows["rnn"][1] == "bidirectional=True, cell=lstm, dropout=0.5, embedding_dim=32, units=32"
    assert rows["dense"][1] == ("activation=relu, dropout=0.0, embedding_dim=32, hidden_layers=1, l2=0.0, "
                                "units=32")
    assert rows["bag_of_ngrams"][1] == ("activation=relu, bigram_buckets=20000, dropout=0.5, mode=multi_hot, "
                                        "ngrams=2, units=16")
    assert rows["transformer"][2] == "0.8800"


def test_machine_formats_keep_one_column_per_key(family_table):
    records = list(csv.DictReader(io.StringIO(render(family_table, "csv"))))
    assert "model settings" not in records[0]
    cells = {record["model.family"]: record for record in records}
    assert cells["rnn"]["model.cell"] == "lstm" and cells["dense"]["model.cell"] == ""
    assert cells["conv1d"]["model.filters"] == "32"
    markdown = render(family_table, "markdown")
    assert "| family | model settings | best_val_accuracy |" in markdown
    assert "**0.8800**" in markdown.split("\n| transformer |")[1].split("\n")[0]


def test_one_family_keeps_a_column_per_key(tmp_path: Path):
    store = FakeSweeps(tmp_path / "store")
    parent = store.sweep("rnn")
    for cell in ("lstm", "gru"):
        store.job(parent, param_texts({**family_keys("rnn"), "model.cell": cell}), 0.85, sweep_id="rnn")
    table = build_table(select_runs(store.uri, EXPERIMENT))
    assert display_headers(table)[:2] == ["cell", "best_val_accuracy"]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                    "(apt-get install chromium; .ci/run installs it)")
def test_the_html_report_of_five_families_fits_a_laptop_screen(family_table, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(family_table, "html", render_plots(family_table)), encoding="utf-8")
    for width in (1366, 1400):
        facts = layout_facts(page, width, tmp_path / f"profile-{width}")
        assert facts["page_width"] <= width, f"the page scrolls sideways at {width} px: {facts}"
        assert facts["table_width"] <= facts["box_width"], f"the table is cut at {width} px: {facts}"
    assert 'class="param settings"' in page.read_text(encoding="utf-8")  # the cell that wraps (report.css)
