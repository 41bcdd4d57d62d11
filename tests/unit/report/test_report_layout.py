"""Readability of the report for an 8-variant sweep (`variant=glob(*)`): short labels,
plots whose legends leave room for the curves, a zoomed accuracy plot, and an HTML
page that fits a laptop screen in headless Chromium."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import pytest
from mlflow.entities import Metric, Param

from imdb_sweep import contract
from imdb_sweep.report import build_table, load_curves, render, select_runs
from imdb_sweep.report.plots import (
    CURVE_TITLES,
    PLOT_FILES,
    PNG_DPI,
    accuracy_dots_figure,
    curve_figure,
    render_plots,
)
from imdb_sweep.report.table import ComparisonTable, distinguishing_keys
from tests.helpers.chromium import CHROMIUM, chromium, layout_facts
from tests.helpers.report_runs import EXPERIMENT, FakeSweeps

# conf/variant/*.yaml: each variant changes one or two keys of the baseline.
BASELINE_CONFIG = {"model.units": 32, "model.activation": "relu", "model.dropout": 0.0,
                   "model.hidden_layers": 1, "model.l2": 0.0, "train.loss": "binary_crossentropy"}
VARIANTS = {"baseline": {}, "units64": {"model.units": 64}, "mse": {"train.loss": "mse"},
            "tanh": {"model.activation": "tanh"}, "dropout": {"model.dropout": 0.5},
            "l2": {"model.l2": 0.001}, "two_layers": {"model.hidden_layers": 2},
            "three_layers": {"model.hidden_layers": 3}}
SEEDS = (0, 1, 2)
EPOCHS = 10


def variant_params(variant: str, seed: int) -> dict[str, object]:
    """A job's params as the real sweep logs them, storage keys included."""
    return {"variant": variant, **BASELINE_CONFIG, **VARIANTS[variant], "seed": seed,
            "model.embedding_dim": 32, "train.epochs": EPOCHS, "train.batch_size": 32,
            "data.num_words": 10000, "data.maxlen": 500, "data.path": "/data/aclImdb.tar.gz",
            "tracking.store_dir": "mlruns", "runtime.verbose": 2}


def log_variant_sweep(store: FakeSweeps, seeds: tuple[int, ...] = SEEDS, with_variant_key: bool = True) -> str:
    """Every variant x seed as one finished job with 10 epochs of curves; test accuracies
    within about two points of each other, as on the real IMDB data."""
    rng = random.Random(12)
    parent = store.sweep("variants")
    for index, variant in enumerate(VARIANTS):
        for seed in seeds:
            run = store.client.create_run(store.experiment_id, run_name=f"variant={variant},seed={seed}",
                                          start_time=store._tick(),
                                          tags={contract.ROLE: "job", contract.SWEEP_ID: "variants",
                                                contract.PARENT_RUN_ID: parent})
            level = 0.865 + 0.003 * ((index * 5) % 8) - 0.01 + rng.uniform(-0.004, 0.004)
            curve = [level - 0.06 * 0.6 ** epoch + rng.uniform(-0.003, 0.003) for epoch in range(EPOCHS)]
            metrics = [Metric("val_accuracy", value, store.clock, epoch + 1) for epoch, value in enumerate(curve)]
            metrics += [Metric("val_loss", 0.25 + 0.1 * (1 - value) + 0.01 * epoch, store.clock, epoch + 1)
                        for epoch, value in enumerate(curve)]
            final = {"best_val_accuracy": max(curve), "test_accuracy": level - 0.004 + rng.uniform(-0.003, 0.003),
                     "test_loss": 0.32 + rng.uniform(0, 0.05), "best_epoch": float(curve.index(max(curve)) + 1),
                     "final_val_accuracy": curve[-1], "train_seconds": 14.0 + rng.uniform(0, 3)}
            metrics += [Metric(key, value, store.clock, 0) for key, value in final.items()]
            params = [Param(key, str(value)) for key, value in variant_params(variant, seed).items()
                      if with_variant_key or key != "variant"]
            store.client.log_batch(run.info.run_id, metrics=metrics, params=params)
            store.client.set_terminated(run.info.run_id, "FINISHED")
    return parent


@pytest.fixture(scope="module")
def variant_table(tmp_path_factory: pytest.TempPathFactory) -> ComparisonTable:
    store = FakeSweeps(tmp_path_factory.mktemp("variants") / "store")
    log_variant_sweep(store)
    selection = select_runs(store.uri, EXPERIMENT)
    load_curves(selection)
    return build_table(selection)


@pytest.fixture(scope="module")
def grid_table(tmp_path_factory: pytest.TempPathFactory) -> ComparisonTable:
    """The same sweep without the `variant` key: only several keys together tell rows apart."""
    store = FakeSweeps(tmp_path_factory.mktemp("grid") / "store")
    log_variant_sweep(store, with_variant_key=False)
    selection = select_runs(store.uri, EXPERIMENT)
    load_curves(selection)
    return build_table(selection)


def test_the_fewest_distinguishing_keys_label_the_rows(variant_table, grid_table):
    assert variant_table.param_keys == ["variant", "model.activation", "model.dropout", "model.hidden_layers",
                                        "model.l2", "model.units", "train.loss"]  # the table keeps them all
    assert variant_table.label_keys == ["variant"]
    assert sorted(variant_table.short_label(row) for row in variant_table.rows) == sorted(VARIANTS)
    assert variant_table.label_title() == "variant"
    dropout = next(row for row in variant_table.rows if row.params["variant"] == "dropout")
    assert variant_table.row_label(dropout) == ("variant=dropout, activation=relu, dropout=0.5, hidden_layers=1, "
                                                "l2=0.0, units=32, loss=binary_crossentropy")
    # Without the variant every changed key is needed: baseline differs from each variant in one.
    assert grid_table.label_keys == ["model.activation", "model.dropout", "model.hidden_layers", "model.l2",
                                     "model.units", "train.loss"]
    assert grid_table.label_title() == ""

    rows = [{"units": units, "activation": activation, "optimizer": "adam"}
            for units in ("32", "64") for activation in ("relu", "tanh")]
    assert distinguishing_keys(rows, ["units", "activation", "optimizer"]) == ["units", "activation"]
    # Greedy: `size` separates the most rows, one more key finishes the job.
    rows = [{"a": "1", "b": "1", "size": "s"}, {"a": "1", "b": "1", "size": "m"},
            {"a": "2", "b": "1", "size": "l"}, {"a": "1", "b": "2", "size": "l"}]
    assert distinguishing_keys(rows, ["a", "b", "size"]) == ["a", "size"]
    assert distinguishing_keys([], []) == []


def saved_layout(figure: plt.Figure, png: bytes) -> tuple[float, float]:
    """(area of the axes / area of the saved PNG, legend width / axes width), in the
    pixels of the PNG that the report embeds."""
    height, width = matplotlib.image.imread(io.BytesIO(png), format="png").shape[:2]
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    scale = PNG_DPI / figure.dpi
    axes = figure.axes[0].get_window_extent(renderer)
    legend = figure.axes[0].get_legend().get_window_extent(renderer)
    return (axes.width * axes.height * scale ** 2 / (width * height), legend.width / axes.width)


@pytest.mark.parametrize("which", ["variant_table", "grid_table"])
def test_legends_leave_the_plot_area_to_the_curves(which, request):
    table = request.getfixturevalue(which)
    pngs = render_plots(table)
    for metric in CURVE_TITLES:
        figure = curve_figure(table, metric)
        area, legend_width = saved_layout(figure, pngs[PLOT_FILES[metric]])
        assert area > 0.4, f"{which} {metric}: the axes fill only {area:.0%} of the image"
        assert legend_width <= 1.0, f"{which} {metric}: legend {legend_width:.1f}x as wide as the axes"
        legend = figure.axes[0].get_legend()
        assert [text.get_text() for text in legend.get_texts()] == [
            f"{table.short_label(row)} (n=3)" for row in table.rows]
        plt.close(figure)
    # Short labels sit beside the plot; long ones below it, where they do not narrow it.
    figure = curve_figure(table, "val_accuracy")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0].get_window_extent(renderer)
    legend = figure.axes[0].get_legend().get_window_extent(renderer)
    if which == "variant_table":
        assert legend.x0 >= axes.x1
    else:
        assert legend.y1 <= axes.y0 and legend.x0 >= axes.x0 - 1 and legend.x1 <= axes.x1 + 1
    plt.close(figure)


def test_the_test_accuracy_plot_is_zoomed_to_the_data(variant_table):
    figure = accuracy_dots_figure(variant_table)
    axes = figure.axes[0]
    low, high = axes.get_xlim()
    summaries = [row.summaries["test_accuracy"] for row in variant_table.rows]
    lowest, highest = min(s.ci_low for s in summaries), max(s.ci_high for s in summaries)
    assert low <= lowest and highest <= high, "every 95% interval is drawn whole"
    # Zoomed: the data spans at least half the axis (a 0..1 axis would leave it ~4%).
    assert (highest - lowest) / (high - low) > 0.5
    # Horizontal labels, best (by validation) at the top, each narrower than the plot.
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ticks = sorted(axes.get_yticklabels(), key=lambda tick: -tick.get_position()[1])
    assert [tick.get_text() for tick in ticks] == [f"{variant_table.short_label(row)} (n=3)"
                                                  for row in variant_table.rows]
    assert all(tick.get_rotation() == 0 for tick in ticks)
    width = axes.get_window_extent(renderer).width
    assert max(tick.get_window_extent(renderer).width for tick in ticks) < 0.5 * width
    assert "ranked by best_val_accuracy" in axes.get_title()
    plt.close(figure)


# ---------------------------------------------------------------------------
# The HTML page in headless Chromium at laptop widths
# ---------------------------------------------------------------------------

@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                    "(apt-get install chromium; .ci/run installs it)")
def test_the_html_report_of_eight_variants_fits_a_laptop_screen(variant_table, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(variant_table, "html", render_plots(variant_table)), encoding="utf-8")
    for width in (1366, 1400):
        facts = layout_facts(page, width, tmp_path / f"profile-{width}")
        assert facts["window_width"] == width
        assert facts["page_width"] <= width, f"the page scrolls sideways at {width} px: {facts}"
        # The table (every result column, model_epoch and model_test_accuracy too) fits
        # without its own scroll bar; the plots fit the window.
        assert facts["table_width"] <= facts["box_width"], f"the table is cut at {width} px: {facts}"
        assert len(facts["images"]) == 4 and max(facts["images"]) <= width, facts

    screenshot = tmp_path / "report_1366.png"
    shot = chromium(["--window-size=1366,768", f"--screenshot={screenshot}", page.as_uri()],
                    tmp_path / "profile-shot")
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    image = matplotlib.image.imread(screenshot)
    assert image.shape[:2] == (768, 1366)
    assert (image[: image.shape[0] // 3, :, :3] < 0.5).mean() > 0.01, "the top of the page is blank"


def test_the_conclusions_set_words_left_and_numbers_right(variant_table):
    page = render(variant_table, "html", {})
    effects = page.split('<table id="effects">', 1)[1].split("</table>", 1)[0]
    assert '<th class="param">key</th>' in effects and "<th>difference</th>" in effects
    assert '<td class="param">variant</td><td class="param">units64</td>' in effects


def test_a_sweep_with_adaptive_seeds_shows_the_seeds_each_configuration_took(tmp_path):
    from imdb_sweep.report.seed_rule import SeedRule, rule_tags

    store = FakeSweeps(tmp_path / "store")
    parent = log_variant_sweep(store)
    rule = SeedRule(min_seeds=3, max_seeds=3, half_width=0.005)
    for key, value in {**rule_tags(rule, "best_val_accuracy"), contract.SEED_RULE_ROUNDS: "1",
                       contract.SEED_RULE_OUTCOME: "capped"}.items():
        store.client.set_tag(parent, key, value)
    table = build_table(select_runs(store.uri, EXPERIMENT))
    markdown = render(table, "markdown", {})
    section = markdown.split("### Seeds until the answer is clear", 1)[1].split("###", 1)[0]
    # Each configuration by its row label, with the seeds it took (3: min = max) and why it stopped.
    for variant in VARIANTS:
        assert f"| variant={variant} | 3 | at the cap of 3 seeds" in section
    assert "Each look's CI is at 95%" in section and "after 1 round(s): at the cap" in section
    record = json.loads(render(table, "json", {}))["seed_rule"]
    assert (record["min_seeds"], record["max_seeds"], record["half_width"], record["outcome"]) == (3, 3, 0.005,
                                                                                                   "capped")
    assert [entry["seeds"] for entry in record["configurations"]] == [3] * len(VARIANTS)
    # A plain sweep has no such section, and JSON says null.
    plain = build_table(select_runs(store.uri, EXPERIMENT, every_run=True))
    assert "Seeds until the answer is clear" not in render(plain, "markdown", {})


def test_a_run_name_breaks_after_its_commas_never_inside_a_value():
    from imdb_sweep.report.formats import cell_breakable

    assert str(cell_breakable("units=64,dropout=0.5,l2=0.0", "run-name")) == "units=64,<wbr>dropout=0.5,<wbr>l2=0.0"
    assert cell_breakable("0.5", "param") == "0.5"
    assert "overflow-wrap: anywhere" not in (Path(__file__).parents[3] / "imdb_sweep" / "report" / "templates"
                                             / "report.css").read_text().split("td.run-name", 1)[1].split("}", 1)[0]
