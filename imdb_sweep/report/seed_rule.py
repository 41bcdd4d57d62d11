"""Seeds until the answer is clear: which configurations of a sweep need another seed.

The rule, checked after each round of seeds (every configuration still in play gets one
more seed per round):

1. Every configuration runs at least `min_seeds` seeds (a CI needs spread to measure).
2. The main effects on the validation metric (`best_val_accuracy`: the stopping rule never
   looks at the test set) are estimated as the report does (effects.py), each level
   against its key's reference. An effect is *settled* when its CI excludes 0 (resolved)
   or its half-width is below `half_width` (then it is known to be small: within
   `half_width` of its estimate, whatever its sign).
3. A configuration gets another seed while it has fewer than `max_seeds` and one of its
   levels (or its key's reference level) belongs to an unsettled effect. The sweep stops
   when no configuration needs one.

Why the error rate holds. Looking at a 95% CI after every round and stopping at the first
one that excludes 0 would be wrong more than 5% of the time: each look is another chance
of a false "resolved". The rule spends the error over the looks instead (Bonferroni
alpha-spending): with at most K = max_seeds - min_seeds + 1 looks, each look's CI is at
confidence 1 - alpha/K. The chance that the CI misses the true difference at *any* look
is at most K * alpha/K = alpha (union bound, whatever the dependence between looks), so
the CI at the data-dependent stopping time covers the true difference with probability at
least 1 - alpha: both stopping reasons (CI excludes 0, CI narrower than `half_width`)
keep that guarantee. It is conservative (Pocock or O'Brien-Fleming boundaries spend less),
and needs no assumption beyond the report's own model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imdb_sweep import contract
from imdb_sweep.report.effects import CONFIDENCE, factor_effects
from imdb_sweep.report.runs import JobRun
from imdb_sweep.tracking.records import param_text

# The metric the rule watches: validation, so that deciding how many seeds to run never
# looks at the test set.
WATCHED_METRIC = contract.BEST_VAL_ACCURACY


@dataclass(frozen=True)
class SeedRule:
    min_seeds: int = 3
    max_seeds: int = 10
    half_width: float = 0.005  # accuracy: 0.005 is half a point
    confidence: float = CONFIDENCE  # overall, spent over the looks

    def __post_init__(self) -> None:
        if self.min_seeds < 2:
            raise ValueError(f"min_seeds = {self.min_seeds} is not allowed: expected at least 2 (a CI needs spread)")
        if self.max_seeds < self.min_seeds:
            raise ValueError(f"max_seeds = {self.max_seeds} is not allowed: expected at least min_seeds "
                             f"({self.min_seeds})")
        if not self.half_width > 0:
            raise ValueError(f"half_width = {self.half_width} is not allowed: expected a number > 0")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence = {self.confidence} is not allowed: expected a number in (0, 1)")

    @property
    def looks(self) -> int:
        """At most one look per seed count from min_seeds to max_seeds."""
        return self.max_seeds - self.min_seeds + 1

    @property
    def look_confidence(self) -> float:
        """Each look's CI level: the overall error split evenly over the looks."""
        return 1 - (1 - self.confidence) / self.looks


@dataclass(frozen=True)
class SeedPlan:
    """One configuration: its seeds so far, and whether it needs another (and why)."""

    configuration: dict[str, str]  # factor key -> level
    seeds: int
    more: bool
    reason: str


def plan_seeds(runs: Sequence[JobRun], config_keys: list[str], rule: SeedRule,
               baseline: dict[str, str] | None = None, defaults: dict[str, Any] | None = None,
               metric: str = WATCHED_METRIC) -> list[SeedPlan]:
    """Which configurations of `runs` (finished job runs, one per configuration and seed)
    need another seed under `rule`, watching `metric` (a validation accuracy);
    configurations in order of first appearance."""
    groups: dict[tuple[str, ...], list[JobRun]] = {}
    for run in runs:
        groups.setdefault(tuple(param_text(run.params.get(key)) for key in config_keys), []).append(run)
    # Each look's CIs carry the spent error already; Holm's p-values play no part here.
    found = factor_effects(runs, config_keys, baseline, defaults, metrics=[metric],
                           confidence=rule.look_confidence, adjust=False)
    # Without a CI (no spread yet) an effect is unsettled: a NaN half-width is never below the bound.
    unsettled = {(effect.key, level) for effect in found.effects if not effect.is_interaction
                 and not effect.resolved and not _half_width(effect.ci_low, effect.ci_high) < rule.half_width
                 for level in (effect.level, effect.reference)}
    plans = []
    for levels, members in groups.items():
        configuration = dict(zip(config_keys, levels))
        seeds = len(members)
        open_levels = sorted(f"{key}={level}" for key, level in unsettled if configuration.get(key) == level)
        if seeds < rule.min_seeds:
            plans.append(SeedPlan(configuration, seeds, True, f"fewer than {rule.min_seeds} seeds"))
        elif seeds >= rule.max_seeds:
            plans.append(SeedPlan(configuration, seeds, False, f"at the cap of {rule.max_seeds} seeds"
                                  + (f"; still unsettled: {', '.join(open_levels)}" if open_levels else "")))
        elif open_levels:
            plans.append(SeedPlan(configuration, seeds, True, f"unsettled: {', '.join(open_levels)}"))
        else:
            plans.append(SeedPlan(configuration, seeds, False, "every effect it takes part in is settled"))
    return plans


def rule_tags(rule: SeedRule, metric: str) -> dict[str, str]:
    """The rule as the parent run's tags, which the report reads back (rule_from_tags)."""
    return {contract.SEED_RULE_MIN_SEEDS: str(rule.min_seeds), contract.SEED_RULE_MAX_SEEDS: str(rule.max_seeds),
            contract.SEED_RULE_HALF_WIDTH: repr(rule.half_width), contract.SEED_RULE_METRIC: metric,
            contract.SEED_RULE_CONFIDENCE: repr(rule.confidence)}


def rule_from_tags(tags: dict[str, str]) -> tuple[SeedRule, str] | None:
    """The rule (and its metric) a sweep with adaptive seeds ran under; None for any other sweep."""
    if contract.SEED_RULE_MIN_SEEDS not in tags:
        return None
    rule = SeedRule(int(tags[contract.SEED_RULE_MIN_SEEDS]), int(tags[contract.SEED_RULE_MAX_SEEDS]),
                    float(tags[contract.SEED_RULE_HALF_WIDTH]), float(tags[contract.SEED_RULE_CONFIDENCE]))
    return rule, tags.get(contract.SEED_RULE_METRIC, WATCHED_METRIC)


def rule_text(rule: SeedRule, metric: str) -> str:
    """The stopping rule and why its error rate holds, in two sentences (report, console)."""
    return (f"Each configuration ran at least {rule.min_seeds} and at most {rule.max_seeds} seeds; after each "
            f"round, one more seed went to every configuration in an effect on {metric} whose CI neither "
            f"excludes 0 nor is narrower than ±{100 * rule.half_width:g} points. Each look's CI is at "
            f"{100 * rule.look_confidence:.3g}% (the {100 * (1 - rule.confidence):g}% error split over at most "
            f"{rule.looks} looks, Bonferroni), so every final CI covers its true difference with probability at "
            f"least {100 * rule.confidence:g}% however the sweep stopped (the guarantee is for CIs at the look's "
            f"level; the factor effects' 95% CIs are narrower).")


def is_settled(plans: Sequence[SeedPlan]) -> bool:
    """The sweep can stop: no configuration needs another seed."""
    return not any(plan.more for plan in plans)


def _half_width(low: float, high: float) -> float:
    return math.nan if math.isnan(low) else (high - low) / 2
