"""The report of an Optuna search: ranked by the search's objective in its direction,
pruned trials listed apart and never chosen, the parent run's best-run tags and
metrics, the search's plots and parameter importance. On searches written straight
into a local store with MlflowClient, the way the sweeper and its jobs write them."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution, distribution_to_json

from imdb_sweep import contract
from imdb_sweep.registry import register_sweep_winner
from imdb_sweep.report import build_table, load_curves, render, select_runs
from imdb_sweep.report.__main__ import main as report_main
from imdb_sweep.report.search import (
    Trial,
    best_so_far,
    load_search_space,
    parameter_importance,
    recorded_search,
    search_trials,
    space_value,
    summarize_search,
)
from imdb_sweep.report.search_plots import SEARCH_PLOT_FILES, parallel_figure, render_report_plots
from imdb_sweep.sweep.publishing import publish_sweep_report
from tests.helpers.report_runs import EXPERIMENT, PNG_SIGNATURE, FakeSweeps

SPACE = {"model.units": CategoricalDistribution([16, 32, 64, 128]),
         "model.dropout": FloatDistribution(0.0, 0.6),
         "train.learning_rate": FloatDistribution(1e-4, 1e-2, log=True)}
EPOCHS = 4


class TrialSpec:
    """One trial: its configuration, how it ended, and its summary numbers."""

    def __init__(self, number: int, units: int, dropout: float, learning_rate: float, state: str,
                 validation_accuracy: float | None = None, validation_loss: float | None = None,
                 test_accuracy: float | None = None, epochs: int = EPOCHS) -> None:
        self.number, self.state, self.epochs = number, state, epochs
        self.params = {"model.units": units, "model.dropout": dropout, "train.learning_rate": learning_rate,
                       "model.activation": "relu", "seed": 42, "train.epochs": EPOCHS}
        self.summary = {"best_val_accuracy": validation_accuracy, "best_val_loss": validation_loss,
                        "test_accuracy": test_accuracy,
                        "test_loss": None if test_accuracy is None else 1 - test_accuracy,
                        "final_val_accuracy": validation_accuracy,
                        "best_epoch": None if validation_accuracy is None else 2}


# Trial 1 is best on validation accuracy, trial 4 on validation loss; trial 4 also has the
# best test accuracy (which must not choose). The pruned trials 2 and 5 have the highest
# raw validation accuracy and the lowest loss of all: they must never be ranked or chosen.
# Trial 7 was answered from a run of an earlier sweep (it spent no epochs of this search).
TRIALS = [
    TrialSpec(0, 32, 0.1, 1e-3, "complete", 0.85, 0.36, 0.83),
    TrialSpec(1, 64, 0.5, 3e-3, "complete", 0.88, 0.30, 0.80),
    TrialSpec(2, 128, 0.2, 1e-4, "pruned", 0.91, 0.20, 0.89, epochs=1),
    TrialSpec(3, 16, 0.0, 1e-2, "failed", epochs=1),
    TrialSpec(4, 64, 0.3, 5e-4, "complete", 0.86, 0.28, 0.86),
    TrialSpec(5, 32, 0.6, 2e-3, "pruned", 0.90, 0.21, 0.88, epochs=2),
    TrialSpec(6, 128, 0.4, 1e-3, "complete", 0.84, 0.40, 0.82),
]
REUSED = TrialSpec(7, 32, 0.0, 1e-3, "complete", 0.87, 0.33, 0.81)


class FakeSearches(FakeSweeps):
    def search(self, sweep_id: str, objective: str = "best_val_accuracy", direction: str = "maximize",
               space: dict | None = None) -> str:
        parent = self.sweep(sweep_id)
        for key, value in {contract.SEARCH_OBJECTIVE: objective, contract.SEARCH_DIRECTION: direction,
                           contract.SEARCH_SAMPLER: "tpe", contract.SEARCH_PRUNER: "asha",
                           contract.SEARCH_STUDY: sweep_id, contract.SEARCH_STORAGE: "sqlite:///optuna.db"}.items():
            self.client.set_tag(parent, key, value)
        self.client.log_param(parent, "n_trials", len(TRIALS) + 1)
        space = SPACE if space is None else space
        self.client.log_text(parent, json.dumps({key: distribution_to_json(distribution)
                                                 for key, distribution in space.items()}),
                             contract.SEARCH_SPACE_ARTIFACT)
        return parent

    def trial(self, parent: str | None, sweep_id: str, spec: TrialSpec) -> str:
        run_tags = {contract.ROLE: "job", contract.SWEEP_ID: sweep_id, contract.TRIAL_NUMBER: str(spec.number)}
        if parent:
            run_tags[contract.PARENT_RUN_ID] = parent
        name = f"units={spec.params['model.units']},dropout={spec.params['model.dropout']}"
        run = self.client.create_run(self.experiment_id, run_name=name, start_time=self._tick(), tags=run_tags)
        metrics = []
        final = spec.summary["best_val_accuracy"] or 0.6
        for epoch in range(1, spec.epochs + 1):
            accuracy = final - 0.02 * (spec.epochs - epoch)
            metrics += [Metric("val_accuracy", accuracy, self.clock, epoch),
                        Metric("val_loss", 1 - accuracy, self.clock, epoch),
                        Metric("accuracy", accuracy + 0.05, self.clock, epoch),
                        Metric("loss", 0.9 - accuracy, self.clock, epoch),
                        Metric("epoch_seconds", 1.0, self.clock, epoch)]
        if spec.state != "failed":
            metrics += [Metric(key, value, self.clock, 0) for key, value in spec.summary.items() if value is not None]
        self.client.log_batch(run.info.run_id, metrics=metrics,
                              params=[Param(key, str(value)) for key, value in spec.params.items()])
        if spec.state == "pruned":
            self.client.set_tag(run.info.run_id, contract.PRUNED_AT_EPOCH, str(spec.epochs))
        self.client.set_terminated(run.info.run_id, "FAILED" if spec.state == "failed" else "FINISHED")
        return run.info.run_id

    def full_search(self, sweep_id: str, **settings) -> tuple[str, dict[int, str]]:
        """The seven trials nested under a new parent, plus trial 7 reused from an older run."""
        earlier = self.trial(None, "older-sweep", REUSED)
        parent = self.search(sweep_id, **settings)
        runs = {spec.number: self.trial(parent, sweep_id, spec) for spec in TRIALS}
        self.client.set_tag(parent, contract.reused_tag(contract.job_number(REUSED.number)), earlier)
        runs[REUSED.number] = earlier
        return parent, runs


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeSearches, dict[str, tuple[str, dict[int, str]]]]:
    """A search maximizing validation accuracy and one minimizing validation loss, same trials."""
    store = FakeSearches(tmp_path_factory.mktemp("search") / "store")
    by_loss = store.full_search("by-loss", objective="best_val_loss", direction="minimize")
    by_accuracy = store.full_search("by-accuracy")
    return store, {"by-accuracy": by_accuracy, "by-loss": by_loss}


def trial_numbers(runs: dict[int, str], run_ids: list[str]) -> list[int]:
    number_of = {run_id: number for number, run_id in runs.items()}
    return [number_of[run_id] for run_id in run_ids]


def ranked_run_ids(table) -> list[str]:
    return [run.run_id for row in table.rows for run in row.runs]


@pytest.mark.parametrize("sweep_id, objective, expected_order", [
    ("by-accuracy", "best_val_accuracy", [1, 7, 4, 0, 6]),
    ("by-loss", "best_val_loss", [4, 1, 7, 0, 6]),
])
def test_trials_are_ranked_by_the_objective_with_pruned_ones_apart(searches, sweep_id, objective, expected_order):
    store, found = searches
    _, runs = found[sweep_id]
    selection = select_runs(store.uri, EXPERIMENT, sweep=sweep_id)
    table = build_table(selection)
    assert table.ranked_by == objective and table.minimize == (objective == "best_val_loss")
    assert trial_numbers(runs, ranked_run_ids(table)) == expected_order
    assert sorted(trial_numbers(runs, [run.run_id for run in selection.pruned])) == [2, 5]
    assert trial_numbers(runs, [run.run_id for run in selection.not_finished]) == [3]
    assert trial_numbers(runs, [table.best_run().run_id]) == [expected_order[0]]
    assert [row.is_best for row in table.rows] == [True, False, False, False, False]
    # --rank-by still overrides the objective; test accuracy would pick trial 4.
    on_test = build_table(selection, rank_by="test_accuracy")
    assert on_test.ranked_by == "test_accuracy"
    assert trial_numbers(runs, [on_test.best_run().run_id]) == [4]


def test_the_direction_tag_decides_not_the_metric_name(searches):
    store, _ = searches
    parent = store.search("odd-direction", objective="best_val_accuracy", direction="minimize")
    for spec in TRIALS[:2]:
        store.trial(parent, "odd-direction", spec)
    table = build_table(select_runs(store.uri, EXPERIMENT, sweep="odd-direction"))
    assert table.minimize and [row.runs[0].metrics["best_val_accuracy"] for row in table.rows] == [0.85, 0.88]
    store.client.set_tag(parent, contract.SEARCH_DIRECTION, "upwards")
    with pytest.raises(ValueError, match="imdb_sweep.search.direction='upwards': expected one of maximize, minimize"):
        build_table(select_runs(store.uri, EXPERIMENT, sweep="odd-direction"))


def test_every_format_shows_pruned_trials_apart_from_failed_ones(searches):
    store, found = searches
    _, runs = found["by-accuracy"]
    table = build_table(select_runs(store.uri, EXPERIMENT, sweep="by-accuracy"))
    pruned_ids = {runs[2], runs[5]}

    markdown = render(table, "markdown")
    heading = markdown.splitlines()[0]
    assert "(search: best_val_accuracy (maximize), sampler tpe, pruner asha)" in heading
    assert "5 finished run(s), 2 pruned, 1 not finished; ranked by best_val_accuracy" in heading
    ranking, _, rest = markdown.partition("Pruned by the search")
    pruned_part, _, failed_part = rest.partition("Not ranked (did not finish)")
    assert not any(run_id[:8] in ranking for run_id in pruned_ids)
    assert all(run_id[:8] in pruned_part for run_id in pruned_ids) and runs[3][:8] not in pruned_part
    assert ("| trial | dropout | units | learning_rate | pruned after epoch | best_val_accuracy when stopped |"
            in pruned_part)
    assert "| 2 | 0.2 | 128 | 0.0001 | 1 | 0.9100 |" in pruned_part
    assert runs[3][:8] in failed_part and "FAILED" in failed_part

    document = json.loads(render(table, "json"))
    assert document["search"]["objective"] == "best_val_accuracy" and document["search"]["pruner"] == "asha"
    assert [(run["trial_number"], run["pruned_at_epoch"]) for run in document["pruned"]] == [(2, 1), (5, 2)]
    assert [run["status"] for run in document["not_finished"]] == ["FAILED"]
    assert not {row["run_id"] for row in document["rows"]} & pruned_ids

    frame = pd.read_csv(io.StringIO(render(table, "csv")))
    pruned_rows = frame[frame["pruned_at_epoch"].notna()]
    assert set(pruned_rows["run_id"]) == pruned_ids and not pruned_rows["is_best"].any()
    assert frame["is_best"].tolist().index(True) == 0 and len(frame) == 5 + 2

    page = render(table, "html")
    pruned_table = page.split('<table id="pruned">', 1)[1].split("</table>", 1)[0]
    assert pruned_table.count("<tr") == 1 + 2 and runs[3][:8] not in pruned_table
    assert "2 pruned" in render(table, "latex")


def test_trials_in_order_with_the_epochs_each_spent(searches):
    store, found = searches
    _, runs = found["by-accuracy"]
    selection = select_runs(store.uri, EXPERIMENT, sweep="by-accuracy")
    load_curves(selection)
    settings = recorded_search(selection)
    trials = search_trials(selection, settings)
    assert [trial.number for trial in trials] == list(range(8))
    assert [trial.run.run_id for trial in trials] == [runs[number] for number in range(8)]
    assert [trial.state for trial in trials] == ["complete", "complete", "pruned", "failed", "complete",
                                                 "pruned", "complete", "complete"]
    # Pruned and failed trials count the epochs they ran; the reused trial spent none.
    assert [trial.epochs for trial in trials] == [4, 4, 1, 1, 4, 2, 4, 0]
    assert best_so_far([0.85, math.nan, 0.88, 0.86], minimize=False)[1:] == [0.85, 0.88, 0.88]
    assert best_so_far([0.36, 0.30, 0.40], minimize=True) == [0.36, 0.30, 0.30]


def test_params_read_back_typed_are_held_as_their_distribution_holds_them():
    assert space_value(64, SPACE["model.units"]) == 64
    assert type(space_value(64.0, SPACE["model.units"])) is int
    assert space_value(0.25, SPACE["model.dropout"]) == 0.25
    assert space_value("relu", CategoricalDistribution(["relu", "tanh"])) == "relu"
    assert space_value(None, CategoricalDistribution([None, 0.5])) is None
    assert space_value(32, CategoricalDistribution(["32", "64"])) == "32"  # text choices that read as numbers
    with pytest.raises(ValueError, match=r"48 is none of the choices \[16, 32, 64, 128\]"):
        space_value(48, SPACE["model.units"])
    with pytest.raises(ValueError, match="'relu' is not a number"):
        space_value("relu", SPACE["model.dropout"])


def test_importance_covers_the_searched_keys_and_says_when_it_cannot(searches):
    store, _ = searches
    selection = select_runs(store.uri, EXPERIMENT, sweep="by-accuracy")
    search = summarize_search(selection)
    assert set(search.space) == set(SPACE) and search.space["model.units"].choices == (16, 32, 64, 128)
    importance = search.importance
    assert set(importance.values) == set(SPACE) and importance.trials == 5 and not importance.skipped
    assert sum(importance.values.values()) == pytest.approx(1.0)
    assert list(importance.values.values()) == sorted(importance.values.values(), reverse=True)
    # The same values every time: the forest is seeded.
    assert parameter_importance(search.trials, search.space, search.settings).values == importance.values

    complete = [trial for trial in search.trials if trial.state == "complete"]
    too_few = parameter_importance(complete[:2], search.space, search.settings)
    assert not too_few.values and too_few.reason == ("2 complete trial(s) with best_val_accuracy; "
                                                     "importance needs 3 or more")
    one_key = parameter_importance(complete, {"model.units": SPACE["model.units"]}, search.settings)
    assert not one_key.values and "1 searched key(s); importance needs 2 or more" in one_key.reason
    flat = [Trial(trial.number, trial.run, "complete", 0.5, trial.epochs) for trial in complete]
    assert "every complete trial scored the same" in parameter_importance(flat, search.space, search.settings).reason


def test_publishing_a_search_names_the_best_complete_trial_and_attaches_its_plots(searches):
    store, found = searches
    parent, runs = found["by-loss"]
    markdown = publish_sweep_report(store.uri, store.experiment_id, parent)
    assert "Pruned by the search" in markdown
    recorded = store.client.get_run(parent).data
    assert recorded.tags["best_run_id"] == runs[4] and recorded.tags["best_trial_number"] == "4"
    assert recorded.tags["ranked_by"] == "best_val_loss"
    # The chosen trial's own numbers, not the pruned trials' lower loss or higher accuracy.
    assert recorded.metrics["best_val_loss"] == pytest.approx(0.28)
    assert recorded.metrics["best_val_accuracy"] == pytest.approx(0.86)
    assert recorded.metrics["best_test_accuracy"] == pytest.approx(0.86)

    plots = {item.path: item.file_size for item in store.client.list_artifacts(parent, "report/plots")}
    expected = {"val_accuracy.png", "val_loss.png", "test_accuracy.png", "expected_best.png",
                *SEARCH_PLOT_FILES.values()}
    assert set(plots) == {f"report/plots/{name}" for name in expected}
    assert all(size > 10_000 for size in plots.values())
    importance_file = Path(store.client.download_artifacts(parent, "report/search_importance.json"))
    importance = json.loads(importance_file.read_text())
    assert set(importance["importance"]) == set(SPACE) and importance["complete_trials"] == 5
    page = Path(store.client.download_artifacts(parent, "report/comparison.html")).read_text()
    # The table's plots (the expected best among them), then the search's.
    assert page.count('src="data:image/png;base64,') == 4 + 4


def test_registering_a_search_takes_its_objective_and_direction(searches):
    store, found = searches
    parent, runs = found["by-loss"]
    for run_id in runs.values():
        store.client.create_logged_model(store.experiment_id, name="model", source_run_id=run_id)
    registration = register_sweep_winner(store.uri, store.experiment_id, parent, "search-winner")
    assert registration.run_id == runs[4] and registration.tags["ranked_by"] == "best_val_loss"


def test_search_plots_are_readable_pngs_and_guarded(searches):
    store, _ = searches
    selection = select_runs(store.uri, EXPERIMENT, sweep="by-accuracy")
    load_curves(selection)
    pngs = render_report_plots(build_table(selection), summarize_search(selection))
    for name in SEARCH_PLOT_FILES.values():
        assert pngs[name].startswith(PNG_SIGNATURE), name
        image = matplotlib.image.imread(io.BytesIO(pngs[name]), format="png")
        # About the width of the grid's curve plots: readable at a laptop's width.
        assert image.shape[0] > 250 and 700 < image.shape[1] <= 1200, (name, image.shape)
        assert image[..., :3].std() > 0.05, f"{name} looks blank"

    # A search with one complete trial, no space artifact: every plot still renders.
    parent = store.search("tiny", space={})
    store.trial(parent, "tiny", TRIALS[0])
    tiny = select_runs(store.uri, EXPERIMENT, sweep="tiny")
    assert load_search_space(tiny) == {}
    load_curves(tiny)
    search = summarize_search(tiny)
    assert "0 searched key(s)" in search.importance.reason
    assert set(render_report_plots(build_table(tiny), search)) >= set(SEARCH_PLOT_FILES.values())


def test_the_command_line_ranks_a_search_and_lists_pruned_trials_apart(searches, monkeypatch, capsys, tmp_path):
    store, found = searches
    _, runs = found["by-accuracy"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    assert report_main(["--sweep", "by-accuracy"]) == 0
    output = capsys.readouterr().out
    ranking, _, apart = output.partition("Pruned by the search (stopped early; never ranked nor chosen):")
    assert "ranked by best_val_accuracy" in ranking.splitlines()[0]
    assert "**0.8800**" in ranking and runs[2][:8] not in ranking and runs[5][:8] not in ranking
    assert runs[2][:8] in apart and runs[5][:8] in apart
    assert apart.index(runs[5][:8]) < apart.index("Not ranked (did not finish)") < apart.index(runs[3][:8])

    assert report_main(["--sweep", "by-accuracy", "--plots", str(tmp_path / "plots")]) == 0
    assert {path.name for path in (tmp_path / "plots").iterdir()} >= set(SEARCH_PLOT_FILES.values())


@pytest.mark.parametrize("units, expected", [
    (IntDistribution(16, 128), ["16", "72", "128"]),  # 113 values: low, middle, high
    (IntDistribution(16, 128, log=True), ["16", "45", "128"]),  # the geometric middle, 45.25, taken as 45
    (IntDistribution(16, 128, step=16), ["16", "32", "48", "64", "80", "96", "112", "128"]),
    (IntDistribution(1, 4), ["1", "2", "3", "4"]),  # never 2.5 (the trials' units lie off this axis)
])
def test_integer_axes_of_the_parallel_plot_have_integer_ticks(searches, units, expected):
    store, _ = searches
    sweep_id = f"integer-axis-{units.log}-{units.step}"
    space = {**SPACE, "model.units": units}
    parent = store.search(sweep_id, space=space)
    for spec in TRIALS:
        store.trial(parent, sweep_id, spec)
    selection = select_runs(store.uri, EXPERIMENT, sweep=sweep_id)
    search = summarize_search(selection)
    figure = parallel_figure(build_table(selection), search.settings, search.trials, search.space)
    # Each axis's tick texts stand at its column (x); the units axis is the first.
    column = list(space).index("model.units")
    texts = [text.get_text() for text in figure.axes[0].texts if text.xy[0] == column]
    assert texts == expected
