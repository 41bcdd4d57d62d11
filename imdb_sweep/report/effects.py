"""Factor effects: what each swept key's levels change, with 95% CIs and Holm-adjusted p-values.

Method. Every finished, unpruned run is one observation of a metric (`test_accuracy`,
`best_val_accuracy`). The swept keys that tell the configurations apart are the factors
(`model.units`, `model.activation`, or `variant` alone when a variant names each
configuration); the seed is not a factor, so repeated seeds are replicates. For each
metric an ordinary least-squares model is fitted with statsmodels:

    metric = intercept + sum over factors of one indicator per non-reference level

(Treatment coding: each factor's reference level is absorbed into the intercept). The
coefficient of level L of key K is then the difference in mean metric between L and
K's reference level, with every other key held at the same mix of levels: averaged over
the other keys, exactly the difference of the two marginal means when the grid is
balanced. Its 95% CI and two-sided p-value come from the t distribution with the
model's residual degrees of freedom and the pooled residual variance (plain OLS errors,
not HC3: with one run per configuration a configuration's leverage can be 1, where HC3
divides by zero; seed-to-seed spread is about the same in every configuration). With a
single factor and two levels this is Student's two-sample t-test.

Interactions. Where two factors form a full factorial (every combination of their
levels ran), a second model adds their two-way terms (products of the two indicators).
The coefficient of `units=64 x activation=tanh` is how much more (or less) 64 units
change the metric under tanh than under the reference activation: a difference of
differences. Only the interaction terms are read from that model.

Multiplicity. The p-values of every test in the report (both metrics, main effects and
interactions) are adjusted together with Holm's step-down method
(statsmodels.stats.multitest.multipletests), which keeps the chance of any false
"significant" at or below 5% whatever the dependence between the tests.

An effect is *resolved* when its 95% CI excludes 0 and its Holm-adjusted p is below 0.05:
the data say which way it goes, with the report's many tests accounted for.
A model without residual degrees of freedom (one run per configuration and nothing
left over) estimates the differences but cannot say how sure they are: CI and p are
empty and the effect is unresolved; seeds fix that.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import combinations
from typing import Any, cast

import numpy as np

from imdb_sweep import contract
from imdb_sweep.report.distinguishing import distinguishing_keys
from imdb_sweep.report.runs import JobRun
from imdb_sweep.tracking.records import param_text

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
# The metrics whose effects are estimated: what the table reports and what it ranks by.
EFFECT_METRICS = (contract.TEST_ACCURACY, contract.BEST_VAL_ACCURACY)
# A key with more levels than this (a search's sampled learning rate: every trial its own
# value) is no categorical factor; it is left out and its spread counts as noise.
MAX_FACTOR_LEVELS = 12
# How an interaction names its two keys and its two levels.
INTERACTION_JOIN = " x "


@dataclass(frozen=True)
class Effect:
    """One level against its key's reference level, on one metric."""

    key: str  # `model.units`, or `model.units x model.activation` for an interaction
    level: str
    reference: str
    metric: str
    difference: float  # mean(level) - mean(reference), the other keys averaged over
    ci_low: float  # NaN without residual degrees of freedom
    ci_high: float
    p_value: float  # two-sided t-test of difference = 0; NaN without residual degrees of freedom
    p_adjusted: float = math.nan  # Holm over every test of the report

    @property
    def resolved(self) -> bool:
        """The sign of the effect is known: its CI excludes 0 and, where the report adjusted
        its p-values, Holm's p is below ALPHA too (one CI among many excludes 0 by chance
        more often than 5% of the time)."""
        excludes_zero = self.ci_low > 0 or self.ci_high < 0
        return excludes_zero and (math.isnan(self.p_adjusted) or self.p_adjusted < ALPHA)

    @property
    def is_interaction(self) -> bool:
        return INTERACTION_JOIN in self.key

    def record(self) -> dict[str, Any]:
        """The JSON entry: NaN as None."""
        def clean(value: float) -> float | None:
            return None if math.isnan(value) else value

        return {"key": self.key, "level": self.level, "reference": self.reference, "metric": self.metric,
                "difference": clean(self.difference), "ci_low": clean(self.ci_low),
                "ci_high": clean(self.ci_high), "p_value": clean(self.p_value),
                "p_adjusted": clean(self.p_adjusted), "resolved": self.resolved}


@dataclass(frozen=True)
class FactorEffects:
    """Every effect of a report, with the factors, their references and what was left out."""

    effects: list[Effect]
    references: dict[str, str]  # factor key -> its reference level, in column order
    interactions: list[tuple[str, str]] = field(default_factory=list)  # factorial pairs
    notes: list[str] = field(default_factory=list)  # keys left out, models that could not be fitted

    @property
    def tests(self) -> int:
        """How many p-values Holm adjusted for."""
        return sum(not math.isnan(effect.p_value) for effect in self.effects)

    def resolved(self) -> list[Effect]:
        return [effect for effect in self.effects if effect.resolved]

    def unresolved(self) -> list[Effect]:
        return [effect for effect in self.effects if not effect.resolved]


NO_EFFECTS = FactorEffects(effects=[], references={})


def level_order(level: Any) -> tuple[int, float, str]:
    """Numbers in numeric order (8 before 16 before 128), then text, then null."""
    if isinstance(level, bool) or level is None:
        return (2 if level is None else 1), 0.0, str(level)
    if isinstance(level, int | float):
        return 0, float(level), ""
    return 1, 0.0, str(level)


def levels_of(runs: Sequence[JobRun], key: str) -> list[str]:
    """The key's values among `runs` as logged (`param_text`), in level_order."""
    values = {param_text(run.params.get(key)): run.params.get(key) for run in runs}
    return [text for text, _ in sorted(values.items(), key=lambda item: level_order(item[1]))]


def _matches(level: str, wanted: Any) -> bool:
    """`32` and `32.0`, `0.5` and `0.50`: a level and a value name the same thing."""
    if level == param_text(wanted):
        return True
    try:
        return float(level) == float(wanted)
    except (TypeError, ValueError):
        return False


def choose_reference(key: str, levels: list[str], baseline: dict[str, str] | None,
                     defaults: dict[str, Any]) -> str:
    """The level the others are compared with: `--baseline`'s value for this key when it
    is among the levels (the user's explicit choice), else the default config's value
    (the seed's reference model), else the first level."""
    for wanted_key, value in (baseline or {}).items():
        if wanted_key in (key, key.rsplit(".", 1)[-1]):
            for level in levels:
                if _matches(level, value):
                    return level
    if key in defaults:
        for level in levels:
            if _matches(level, defaults[key]):
                return level
    return levels[0]


@lru_cache(maxsize=1)
def default_values() -> dict[str, Any]:
    """The flattened default config (conf/ with no overrides): which value is the default
    of each key. Empty when it cannot be composed; references then fall back."""
    try:
        from hydra import compose, initialize_config_dir
        from omegaconf import OmegaConf

        from imdb_sweep.config.hydra_internals import hydra_is_running
        from imdb_sweep.config.identity import flatten_config
        from imdb_sweep.config.location import config_dir

        # Unresolved: an interpolation that needs the environment (data.path) must not cost
        # the other keys their defaults.
        if hydra_is_running():  # inside a sweep's own process
            config = compose(config_name="config")
        else:
            with initialize_config_dir(version_base=None, config_dir=str(config_dir())):
                config = compose(config_name="config")
        return flatten_config(cast(dict[str, Any], OmegaConf.to_container(config, resolve=False)))
    except Exception:  # noqa: BLE001 - without defaults the first level is the reference
        return {}


@dataclass(frozen=True)
class _Column:
    """One column of the design matrix: the indicator of a level (or of a pair of levels)."""

    key: str
    level: str
    reference: str
    indicator: np.ndarray


def _main_columns(runs: Sequence[JobRun], references: dict[str, str]) -> list[_Column]:
    columns = []
    for key, reference in references.items():
        observed = np.array([param_text(run.params.get(key)) for run in runs])
        for level in levels_of(runs, key):
            if level != reference:
                columns.append(_Column(key, level, reference, (observed == level).astype(float)))
    return columns


def _interaction_columns(main: list[_Column], pairs: list[tuple[str, str]]) -> list[_Column]:
    columns = []
    for first, second in pairs:
        for left in (column for column in main if column.key == first):
            for right in (column for column in main if column.key == second):
                columns.append(_Column(f"{first}{INTERACTION_JOIN}{second}",
                                       f"{left.level}{INTERACTION_JOIN}{right.level}",
                                       f"{left.reference}{INTERACTION_JOIN}{right.reference}",
                                       left.indicator * right.indicator))
    return columns


def fit_effects(values: np.ndarray, columns: list[_Column], reported: list[_Column],
                metric: str, confidence: float = CONFIDENCE) -> tuple[list[Effect], str | None]:
    """OLS of `values` on an intercept and `columns`; the effects of the `reported`
    columns (CIs at `confidence`), or none and the reason when the design cannot separate them."""
    from statsmodels.regression.linear_model import OLS

    design = np.column_stack([np.ones(len(values)), *[column.indicator for column in columns]])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return [], (f"{metric}: the levels are confounded (some combinations never ran apart), "
                    "so their effects cannot be separated")
    fitted = OLS(values, design).fit()
    positions = {id(column): index + 1 for index, column in enumerate(columns)}
    has_residual = fitted.df_resid > 0
    if has_residual:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # Runs without any spread (identical results) give a zero standard error.
            warnings.simplefilter("ignore", RuntimeWarning)
            intervals = np.asarray(fitted.conf_int(alpha=1 - confidence))
            p_values = np.asarray(fitted.pvalues)
    effects = []
    for column in reported:
        index = positions[id(column)]
        low, high, p_value = ((float(intervals[index, 0]), float(intervals[index, 1]), float(p_values[index]))
                              if has_residual else (math.nan, math.nan, math.nan))
        effects.append(Effect(column.key, column.level, column.reference, metric,
                              float(fitted.params[index]), low, high, p_value))
    note = None if has_residual else (f"{metric}: one run per cell and nothing left over to measure the "
                                      "noise: differences without CI; run seeds (seed=1,2,3) to resolve them")
    return effects, note


def factorial_pairs(runs: Sequence[JobRun], factors: list[str]) -> list[tuple[str, str]]:
    """Pairs of factors of which every combination of levels ran."""
    pairs = []
    for first, second in combinations(factors, 2):
        seen = {(param_text(run.params.get(first)), param_text(run.params.get(second))) for run in runs}
        if len(seen) == len(levels_of(runs, first)) * len(levels_of(runs, second)):
            pairs.append((first, second))
    return pairs


def adjust_holm(effects: list[Effect]) -> list[Effect]:
    """Each effect with its Holm-adjusted p-value (over every effect that has a p-value)."""
    from statsmodels.stats.multitest import multipletests

    tested = [index for index, effect in enumerate(effects) if not math.isnan(effect.p_value)]
    if not tested:
        return effects
    _, adjusted, _, _ = multipletests([effects[index].p_value for index in tested], alpha=ALPHA, method="holm")
    result = list(effects)
    for index, p_adjusted in zip(tested, adjusted):
        result[index] = replace(effects[index], p_adjusted=float(p_adjusted))
    return result


def estimate_effects(runs: Sequence[JobRun], factors: list[str], references: dict[str, str],
                     metrics: Iterable[str] = EFFECT_METRICS, confidence: float = CONFIDENCE,
                     adjust: bool = True) -> FactorEffects:
    """Main effects (and two-way interactions of factorial pairs) of `factors` on `metrics`,
    each level against `references[key]`, CIs at `confidence`, Holm-adjusted over all of them
    unless `adjust` is false (statsmodels' Holm runs a full garbage collection each call,
    a fifth of a second in a process with a large heap: too slow for the seed rule's looks)."""
    effects: list[Effect] = []
    notes: list[str] = []
    factors = [key for key in factors if len(levels_of(runs, key)) > 1]
    references = {key: references[key] for key in factors}
    pairs: list[tuple[str, str]] = []
    for metric in metrics:
        measured = [run for run in runs if not math.isnan(run.metrics.get(metric, math.nan))]
        if not measured or not factors:
            continue
        values = np.array([run.metrics[metric] for run in measured])
        main = _main_columns(measured, references)
        found, note = fit_effects(values, main, main, metric, confidence)
        effects += found
        notes += [note] if note else []
        pairs = factorial_pairs(measured, factors)
        if pairs:
            interactions = _interaction_columns(main, pairs)
            found, note = fit_effects(values, [*main, *interactions], interactions, metric, confidence)
            effects += found
            notes += [f"interactions of {note}"] if note else []
    return FactorEffects(adjust_holm(effects) if adjust else effects, references, pairs,
                         list(dict.fromkeys(notes)))


def choose_factors(runs: Sequence[JobRun], config_keys: list[str]) -> tuple[list[str], list[str]]:
    """(factors, notes): the fewest swept keys that tell the configurations apart
    (`variant` alone when it names them; distinguishing.py), leaving out keys
    with more than MAX_FACTOR_LEVELS levels."""
    notes = []
    candidates = []
    for key in config_keys:
        count = len(levels_of(runs, key))
        if count > MAX_FACTOR_LEVELS:
            notes.append(f"{key}: {count} levels (more than {MAX_FACTOR_LEVELS}): not a factor; "
                         "its spread counts as noise")
        else:
            candidates.append(key)
    configurations = [{key: param_text(run.params.get(key)) for key in candidates} for run in runs]
    return distinguishing_keys(configurations, candidates), notes


def factor_effects(runs: Sequence[JobRun], config_keys: list[str], baseline: dict[str, str] | None = None,
                   defaults: dict[str, Any] | None = None, metrics: Iterable[str] = EFFECT_METRICS,
                   confidence: float = CONFIDENCE, adjust: bool = True) -> FactorEffects:
    """The report's effects: factors chosen among the swept `config_keys` (no seed),
    references from `baseline`, the default config (`default_values()` unless given),
    or the first level."""
    if len(runs) < 2 or not config_keys:
        return NO_EFFECTS
    factors, notes = choose_factors(runs, config_keys)
    if not factors:
        return FactorEffects([], {}, notes=notes)
    defaults = default_values() if defaults is None else defaults
    references = {key: choose_reference(key, levels_of(runs, key), baseline, defaults) for key in factors}
    estimated = estimate_effects(runs, factors, references, metrics, confidence, adjust)
    return FactorEffects(estimated.effects, estimated.references, estimated.interactions,
                         notes + estimated.notes)
