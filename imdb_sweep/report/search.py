"""A search's side of the report: its settings, its trials in order, the epochs they
spent, and how much each searched key mattered (Optuna's importance evaluators).

A search (imdb_sweep/search/) tags its parent run with what it optimizes and how,
stores its space as the parent's artifact `search/space.json` ({key: Optuna
distribution JSON}) and tags each trial's job run with its trial number. This
module reads those back; like the rest of the report it never trains.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.report.runs import JobRun, Selection
from imdb_sweep.tracking.records import param_text

# fANOVA fits a random forest to the complete trials: with fewer than three it has
# nothing to split and names one key at random; with one searched key the answer is
# 1 by definition. Below these the importance plot says so instead.
IMPORTANCE_MIN_TRIALS = 3
IMPORTANCE_MIN_KEYS = 2
IMPORTANCE_SEED = 0  # the forest is random: a fixed seed gives the same figure each time


def recorded_search(selection: Selection) -> contract.SearchRecord | None:
    """The search's record on its parent run, or None when the selection is a grid sweep (or --all)."""
    return contract.SearchRecord.from_tags(selection.parent_tags, selection.parent_run_id or "")


# ---------------------------------------------------------------------------
# Trials: one per job run, in trial order
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    number: int | None  # None when neither the run nor the parent says which trial it was
    run: JobRun
    state: str  # complete, pruned, failed (failed and killed alike)
    value: float  # the objective as the run logged it; NaN when it did not
    epochs: int  # epochs this search spent on it: 0 when answered from an earlier run


def reused_trial_numbers(selection: Selection) -> dict[str, int]:
    """run id -> trial number of the trials answered from an earlier FINISHED run. The parent
    tags each as `imdb_sweep.reused.<job number>`; job numbers count from 1, trials from 0."""
    numbers: dict[str, int] = {}
    for key, run_id in selection.parent_tags.items():
        if key.startswith(contract.REUSED_PREFIX) and key.removeprefix(contract.REUSED_PREFIX).isdigit():
            numbers[run_id] = contract.job_index(int(key.removeprefix(contract.REUSED_PREFIX)))
    return numbers


def epochs_run(selection: Selection, run: JobRun) -> int:
    """How many epochs the run trained: its per-epoch history when loaded, else the
    epoch a pruner stopped it after, else its train.epochs."""
    histories = selection.curves.get(run.run_id, {})
    logged = {step for history in histories.values() for step, _ in history}
    if logged:
        return len(logged)
    for text in (run.pruned_at_epoch, None if run.status != "FINISHED" else run.params.get("train.epochs")):
        if text is None:
            continue
        try:
            return int(float(text))
        except (TypeError, ValueError):
            continue
    return 0


def search_trials(selection: Selection, settings: contract.SearchRecord) -> list[Trial]:
    """Every trial of the search, by trial number (unnumbered ones last, by start time)."""
    reused = reused_trial_numbers(selection)
    trials = []
    for runs, state in ((selection.finished, "complete"), (selection.pruned, "pruned"),
                        (selection.not_finished, "failed")):
        for run in runs:
            number = reused.get(run.run_id, run.trial_number)
            trials.append(Trial(number, run, state, run.metrics.get(settings.objective, math.nan),
                                0 if run.run_id in reused else epochs_run(selection, run)))
    return sorted(trials, key=lambda trial: (trial.number is None, trial.number or 0, trial.run.start_time))


def best_so_far(values: list[float], minimize: bool) -> list[float]:
    """The running best of `values` (NaN entries keep the best before them)."""
    running: list[float] = []
    best = math.nan
    for value in values:
        if not math.isnan(value) and (math.isnan(best) or (value < best if minimize else value > best)):
            best = value
        running.append(best)
    return running


# ---------------------------------------------------------------------------
# The search space and parameter importance
# ---------------------------------------------------------------------------


@contextmanager
def _without_progress_bar() -> Iterator[None]:
    """MLflow draws a progress bar for every download; one small JSON file needs none,
    least of all in the console at the end of a search."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def load_search_space(selection: Selection) -> dict[str, Any]:
    """{config key: Optuna distribution} from the parent's `search/space.json`; empty when
    the parent has none (an interrupted search, or a store written by an older version)."""
    from optuna.distributions import json_to_distribution

    if selection.parent_run_id is None:
        return {}
    client = MlflowClient(selection.tracking_uri)
    with tempfile.TemporaryDirectory(prefix="imdb_sweep_space_") as folder, _without_progress_bar():
        try:
            path = client.download_artifacts(selection.parent_run_id, contract.SEARCH_SPACE_ARTIFACT, folder)
        except (MlflowException, OSError):
            return {}
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    # distribution_to_json gives a string; a space written as nested JSON reads the same.
    return {key: json_to_distribution(value if isinstance(value, str) else json.dumps(value))
            for key, value in document.items()}


def space_value(value: Any, distribution: Any) -> Any:
    """A run's param (typed when read, runs.py) as the distribution holds it: the choice
    it is for choice(16,32,64) (`32.0` logged for the choice 32 too), an int for
    range(), a float for interval(). A ValueError when it is none of those."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            if type(choice) is type(value) and choice == value:
                return choice
        for choice in distribution.choices:
            if not isinstance(choice, (bool, str)) and not isinstance(value, (bool, str)) and choice == value:
                return choice
        for choice in distribution.choices:  # a text choice that reads as a number: choice('32','64')
            if str(choice) == param_text(value):
                return choice
        raise ValueError(f"{value!r} is none of the choices {list(distribution.choices)}")
    if isinstance(value, (bool, str)) or value is None:
        raise ValueError(f"{value!r} is not a number of {distribution}")
    if isinstance(distribution, IntDistribution):
        return int(value)
    return float(value)


@dataclass
class Importance:
    """Each searched key's share of the objective's variance (fANOVA), largest first."""

    values: dict[str, float] = field(default_factory=dict)
    trials: int = 0  # complete trials the values come from
    reason: str = ""  # why there are no values, when there are none
    skipped: list[str] = field(default_factory=list)  # trials left out, and why


def parameter_importance(trials: list[Trial], space: dict[str, Any], settings: contract.SearchRecord) -> Importance:
    """Rebuild an in-memory Optuna study from the complete trials (params from the runs'
    MLflow params, as the space holds them; value = the objective) and ask fANOVA."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.study import StudyDirection

    if len(space) < IMPORTANCE_MIN_KEYS:
        return Importance(reason=f"the space has {len(space)} searched key(s); importance needs "
                                 f"{IMPORTANCE_MIN_KEYS} or more")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=StudyDirection[settings.direction.upper()])
    importance = Importance()
    for trial in trials:
        if trial.state != "complete" or math.isnan(trial.value):
            continue
        try:
            params = {key: space_value(trial.run.params[key], distribution) for key, distribution in space.items()}
            study.add_trial(optuna.trial.create_trial(params=params, distributions=space, value=trial.value))
        except (KeyError, ValueError) as error:
            importance.skipped.append(f"{trial.run.run_name} ({trial.run.run_id[:8]}): {error}")
    importance.trials = len(study.trials)
    if importance.trials < IMPORTANCE_MIN_TRIALS:
        importance.reason = (f"{importance.trials} complete trial(s) with {settings.objective}; importance "
                             f"needs {IMPORTANCE_MIN_TRIALS} or more")
        return importance
    try:
        values = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=IMPORTANCE_SEED))
    except RuntimeError as error:  # "zero total variance": every trial scored the same
        importance.reason = f"every complete trial scored the same {settings.objective} ({error})"
        return importance
    importance.values = {key: float(value) for key, value in values.items()}
    return importance


@dataclass
class SearchSummary:
    """What a search's report shows beyond the table: read once, drawn and logged from here."""

    settings: contract.SearchRecord
    trials: list[Trial]
    space: dict[str, Any]
    importance: Importance


def summarize_search(selection: Selection) -> SearchSummary | None:
    """The search's settings, trials, space and importance; None for a grid sweep. The
    epochs per trial come from the curves: call runs.load_curves first."""
    settings = recorded_search(selection)
    if settings is None:
        return None
    trials = search_trials(selection, settings)
    space = load_search_space(selection)
    return SearchSummary(settings, trials, space, parameter_importance(trials, space, settings))
