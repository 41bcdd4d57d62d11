"""Factor effects (imdb_sweep/report/effects.py) on generated run tables with known effects:
OLS differences, CIs and p-values against values computed independently (scipy, the
cell means), Holm's adjustment against its definition, references, and the report's
JSON and Markdown. No training; one test writes runs into a local MLflow store."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from imdb_sweep.report import build_table, render, select_runs
from imdb_sweep.report.effects import (
    MAX_FACTOR_LEVELS,
    NO_EFFECTS,
    Effect,
    choose_reference,
    estimate_effects,
    factor_effects,
    levels_of,
)
from imdb_sweep.report.runs import JobRun
from tests.helpers.report_runs import EXPERIMENT, FakeSweeps, job_params

TEST = "test_accuracy"
VALIDATION = "best_val_accuracy"
# Sums of a few dozen numbers near 0.8 carry rounding errors of about 1e-15; the OLS
# solution goes through a least-squares solve of a well-conditioned 0/1 design, which
# loses a few more digits at most.
TOLERANCE = 1e-10


def run(number: int, params: dict[str, object], accuracy: float, validation: float | None = None) -> JobRun:
    metrics = {TEST: accuracy, VALIDATION: accuracy + 0.01 if validation is None else validation}
    return JobRun(f"run{number}", f"run{number}", "FINISHED", number, params, metrics)


def one_factor_runs(samples: dict[int, list[float]]) -> list[JobRun]:
    return [run(len(samples) * 100 + index * 10 + seed, {"model.units": units, "seed": seed}, value)
            for index, (units, values) in enumerate(samples.items()) for seed, value in enumerate(values)]


def effect_of(found, key: str, level: str, metric: str = TEST):
    (effect,) = [effect for effect in found.effects
                 if (effect.key, effect.level, effect.metric) == (key, level, metric)]
    return effect


def test_one_factor_two_levels_is_students_t_test():
    reference, other = [0.84, 0.85, 0.83, 0.845], [0.835, 0.825, 0.83, 0.82, 0.828]
    found = estimate_effects(one_factor_runs({32: reference, 64: other}), ["model.units"], {"model.units": "32"},
                             metrics=[TEST])
    effect = effect_of(found, "model.units", "64")
    expected = stats.ttest_ind(other, reference, equal_var=True)
    interval = expected.confidence_interval(0.95)
    assert effect.difference == pytest.approx(np.mean(other) - np.mean(reference), abs=TOLERANCE)
    assert effect.p_value == pytest.approx(expected.pvalue, rel=1e-8)
    assert (effect.ci_low, effect.ci_high) == pytest.approx((interval.low, interval.high), abs=TOLERANCE)
    assert effect.reference == "32" and effect.resolved == (interval.high < 0 or interval.low > 0)
    # One test only: Holm leaves its p-value as it is.
    assert effect.p_adjusted == pytest.approx(effect.p_value, rel=1e-12)


def test_three_levels_share_one_pooled_variance():
    samples = {16: [0.80, 0.82, 0.81], 32: [0.84, 0.85, 0.83, 0.86], 64: [0.83, 0.80, 0.84]}
    found = estimate_effects(one_factor_runs(samples), ["model.units"], {"model.units": "32"}, metrics=[TEST])
    # Pooled within-level variance over N - k degrees of freedom, computed by hand.
    groups = [np.array(values) for values in samples.values()]
    degrees = sum(group.size for group in groups) - len(groups)
    pooled = sum(((group - group.mean()) ** 2).sum() for group in groups) / degrees
    quantile = stats.t.ppf(0.975, degrees)
    for level in (16, 64):
        values, reference = np.array(samples[level]), np.array(samples[32])
        difference = values.mean() - reference.mean()
        error = math.sqrt(pooled * (1 / values.size + 1 / reference.size))
        effect = effect_of(found, "model.units", str(level))
        assert effect.difference == pytest.approx(difference, abs=TOLERANCE)
        assert (effect.ci_low, effect.ci_high) == pytest.approx(
            (difference - quantile * error, difference + quantile * error), abs=TOLERANCE)
        assert effect.p_value == pytest.approx(2 * stats.t.sf(abs(difference) / error, degrees), rel=1e-8)


def factorial_runs(interaction: float = 0.0, seeds: int = 4, noise: float = 0.002) -> tuple[list[JobRun], dict]:
    """A 2 x 3 grid of units x activation with known main effects and one interaction
    (64 units under tanh), each cell repeated over seeds with fixed generated noise."""
    truth = {"units": 0.010, "tanh": -0.006, "gelu": 0.0005, "interaction": interaction}
    generator = np.random.default_rng(7)
    runs = []
    for units, activation, seed in product((32, 64), ("relu", "tanh", "gelu"), range(seeds)):
        mean = (0.84 + truth["units"] * (units == 64) + truth["tanh"] * (activation == "tanh")
                + truth["gelu"] * (activation == "gelu") + interaction * (units == 64 and activation == "tanh"))
        params = {"model.units": units, "model.activation": activation, "seed": seed}
        runs.append(run(len(runs), params, mean + generator.normal(0, noise)))
    return runs, truth


def test_cis_cover_the_true_effects_of_a_factorial_grid_and_equal_marginal_differences():
    runs, truth = factorial_runs()
    found = factor_effects(runs, ["model.units", "model.activation"], defaults={"model.units": 32,
                                                                                 "model.activation": "relu"})
    assert found.references == {"model.units": "32", "model.activation": "relu"}
    assert found.interactions == [("model.units", "model.activation")]
    units = effect_of(found, "model.units", "64")
    tanh = effect_of(found, "model.activation", "tanh")
    assert units.ci_low < truth["units"] < units.ci_high and units.resolved
    assert tanh.ci_low < truth["tanh"] < tanh.ci_high and tanh.resolved
    assert not effect_of(found, "model.units x model.activation", "64 x tanh").resolved  # none was put in
    # A balanced grid: the main effect is the difference of the two marginal means.
    accuracy = {(r.params["model.units"], r.params["model.activation"]): [] for r in runs}
    for r in runs:
        accuracy[(r.params["model.units"], r.params["model.activation"])].append(r.metrics[TEST])
    marginal = {units: np.mean([v for (u, _), vs in accuracy.items() if u == units for v in vs]) for units in (32, 64)}
    assert units.difference == pytest.approx(marginal[64] - marginal[32], abs=TOLERANCE)


def test_an_interaction_is_a_difference_of_differences_and_is_found():
    runs, truth = factorial_runs(interaction=-0.012)
    found = factor_effects(runs, ["model.units", "model.activation"], defaults={})
    interaction = effect_of(found, "model.units x model.activation", "64 x tanh")
    assert interaction.reference == "32 x gelu"  # no default: the first level of each key

    def cell(units: int, activation: str) -> float:
        return float(np.mean([r.metrics[TEST] for r in runs
                              if (r.params["model.units"], r.params["model.activation"]) == (units, activation)]))

    expected = (cell(64, "tanh") - cell(32, "tanh")) - (cell(64, "gelu") - cell(32, "gelu"))
    assert interaction.difference == pytest.approx(expected, abs=TOLERANCE)
    assert interaction.resolved and interaction.ci_low < truth["interaction"] < interaction.ci_high


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment from its definition: the i-th smallest of m times
    (m - i + 1), made non-decreasing in that order, at most 1."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def test_holm_adjusts_over_every_test_of_the_report():
    runs, _ = factorial_runs(interaction=-0.004, seeds=3, noise=0.004)
    found = factor_effects(runs, ["model.units", "model.activation"], defaults={})
    # Both metrics, 3 main effects and 2 interaction terms each.
    assert found.tests == len(found.effects) == 2 * (1 + 2 + 2)
    expected = holm([effect.p_value for effect in found.effects])
    assert [effect.p_adjusted for effect in found.effects] == pytest.approx(expected, rel=1e-12)
    assert all(effect.p_adjusted >= effect.p_value for effect in found.effects)


def test_without_replicates_the_differences_stand_without_ci():
    found = estimate_effects(one_factor_runs({32: [0.84], 64: [0.83]}), ["model.units"], {"model.units": "32"})
    effect = effect_of(found, "model.units", "64")
    assert effect.difference == pytest.approx(-0.01, abs=TOLERANCE)
    assert math.isnan(effect.ci_low) and math.isnan(effect.p_value) and not effect.resolved
    assert found.tests == 0 and any("run seeds" in note for note in found.notes)


def test_references_come_from_the_baseline_then_the_default_then_the_first_level():
    levels = ["16", "32", "64"]
    assert choose_reference("model.units", levels, {"units": "64"}, {"model.units": 32}) == "64"
    assert choose_reference("model.units", levels, {"variant": "x"}, {"model.units": 32}) == "32"
    assert choose_reference("model.units", levels, None, {"model.units": 128}) == "16"
    assert choose_reference("model.dropout", ["0.0", "0.5"], None, {"model.dropout": 0}) == "0.0"
    runs = [run(index, {"model.units": units}, 0.8) for index, units in enumerate((128, 16, 32))]
    assert levels_of(runs, "model.units") == ["16", "32", "128"]  # numeric order, not text order


def test_a_variant_names_its_configurations_alone_and_sampled_keys_are_no_factors():
    cells = [(variant, units, seed) for (variant, units) in (("baseline", 32), ("units64", 64)) for seed in range(3)]
    variant_runs = [run(index, {"variant": variant, "model.units": units, "seed": seed}, 0.8 + 0.001 * index)
                    for index, (variant, units, seed) in enumerate(cells)]
    found = factor_effects(variant_runs, ["variant", "model.units"], defaults={"variant": "baseline"})
    assert found.references == {"variant": "baseline"} and {e.key for e in found.effects} == {"variant"}

    sampled = [run(index, {"train.learning_rate": 0.001 * (index + 1), "model.units": 32 * (1 + index % 2)},
                   0.8 + 0.001 * index) for index in range(MAX_FACTOR_LEVELS + 4)]
    found = factor_effects(sampled, ["model.units", "train.learning_rate"], defaults={})
    assert list(found.references) == ["model.units"]
    assert any(note.startswith("train.learning_rate: 16 levels") for note in found.notes)
    assert factor_effects(sampled[:1], ["model.units"], defaults={}) is NO_EFFECTS


def test_the_report_says_which_effects_are_resolved_in_json_and_markdown(tmp_path: Path):
    store = FakeSweeps(tmp_path / "store")
    parent = store.sweep("seeds")
    samples = {"32": [0.84, 0.85, 0.845, 0.842], "64": [0.80, 0.81, 0.805, 0.79], "16": [0.843, 0.84, 0.85, 0.838]}
    for units, values in samples.items():
        for seed, value in enumerate(values):
            store.job(parent, job_params(units, seed), value, sweep_id="seeds")
    table = build_table(select_runs(store.uri, EXPERIMENT))

    document = json.loads(render(table, "json"))
    entries = {(entry["level"], entry["metric"]): entry for entry in document["effects"]}
    assert set(entries) == {(level, metric) for level in ("units16", "units64") for metric in (TEST, VALIDATION)}
    lost = entries[("units64", TEST)]
    assert set(lost) == {"key", "level", "reference", "metric", "difference", "ci_low", "ci_high", "p_value",
                         "p_adjusted", "resolved"}
    assert (lost["key"], lost["reference"]) == ("variant", "baseline")
    assert lost["difference"] == pytest.approx(np.mean(samples["64"]) - np.mean(samples["32"]), abs=TOLERANCE)
    assert lost["resolved"] and lost["ci_high"] < 0 and lost["p_adjusted"] >= lost["p_value"]
    assert not entries[("units16", TEST)]["resolved"]

    markdown = render(table, "markdown")
    assert "### Factor effects" in markdown and "Resolved: the CI excludes 0 and p (Holm) < 0.05 (2 of 4)" in markdown
    difference = np.mean(samples["64"]) - np.mean(samples["32"])
    assert f"| variant | units64 | baseline | test_accuracy | {difference:+.4f} |" in markdown


def test_the_parent_run_carries_the_effects_and_the_expected_best_plot(tmp_path: Path):
    from imdb_sweep.sweep.publishing import publish_sweep_report

    store = FakeSweeps(tmp_path / "store")
    parent = store.sweep("seeds")
    for units, values in {"32": [0.84, 0.85, 0.845], "64": [0.80, 0.81, 0.805]}.items():
        for seed, value in enumerate(values):
            store.job(parent, job_params(units, seed), value, sweep_id="seeds")
    markdown = publish_sweep_report(store.uri, store.experiment_id, parent)
    assert "### Factor effects" in markdown and "### Expected best against trials (best_val_accuracy)" in markdown

    artifacts = {item.path for item in store.client.list_artifacts(parent, "report")}
    assert {"report/effects.csv", "report/effects.json"} <= artifacts
    recorded = json.loads(Path(store.client.download_artifacts(parent, "report/effects.json")).read_text())
    table = build_table(select_runs(store.uri, EXPERIMENT))
    assert recorded["effects"] == json.loads(render(table, "json"))["effects"]
    assert recorded["references"] == {"variant": "baseline"}
    plots = {item.path for item in store.client.list_artifacts(parent, "report/plots")}
    assert "report/plots/expected_best.png" in plots


def test_the_default_config_names_the_reference_inside_a_hydra_app_and_outside():
    from hydra import initialize_config_dir

    from imdb_sweep.config.location import config_dir
    from imdb_sweep.report.effects import default_values

    default_values.cache_clear()
    outside = default_values()
    default_values.cache_clear()
    # A sweep publishes its report in the process Hydra runs it in, GlobalHydra initialized.
    with initialize_config_dir(version_base=None, config_dir=str(config_dir())):
        inside = default_values()
    default_values.cache_clear()
    assert (outside["model.units"], outside["variant"]) == (32, "baseline") and inside == outside


def test_a_ci_that_excludes_zero_is_not_resolved_when_holms_p_is_not_below_alpha():
    # One test among many: its own 95% CI misses 0, but the report's Holm adjustment does not back it.
    alone = Effect("model.units", "64", "32", TEST, 0.005, 0.001, 0.009, p_value=0.02, p_adjusted=0.02)
    among_many = replace(alone, p_adjusted=0.12)
    assert alone.resolved and not among_many.resolved
    # Without an adjustment (the seed rule's looks carry their own spent confidence) the CI decides.
    assert replace(alone, p_adjusted=math.nan).resolved
