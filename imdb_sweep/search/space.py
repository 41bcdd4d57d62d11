"""A search space from Hydra's override grammar, as Optuna distributions.

    model.units=choice(16,32,64,128)      categorical (so is model.units=16,32)
    model.hidden_layers=range(1,3)        integers 1 and 2 (Python's range: the stop is left out)
    model.dropout=interval(0.0,0.6)       a float, uniform in [0.0, 0.6]
    train.learning_rate=tag(log,interval(1e-4,1e-2))   a float, log-uniform

The same grammar and meaning as Hydra's Optuna sweeper. Overrides that sweep
nothing (`train.epochs=4`) are fixed for every trial.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution,
)

# Above this many combinations of the values a space can produce, each searched
# key's values are checked on their own (with the other keys at their first value).
MAX_COMBINATIONS_CHECKED = 256


class SearchSpaceError(ValueError):
    """An override the search cannot turn into a distribution."""


@dataclass
class SearchSpace:
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    expressions: dict[str, str] = field(default_factory=dict)  # key -> as typed, for messages
    fixed: list[str] = field(default_factory=list)  # overrides every trial gets as they are

    @staticmethod
    def from_overrides(arguments: Iterable[str], config_loader: Any = None) -> SearchSpace:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        space = SearchSpace()
        for override in OverridesParser.create(config_loader=config_loader).parse_overrides(list(arguments)):
            key = override.get_key_element()
            if not override.is_sweep_override():
                space.fixed.append(f"{key}={override.get_value_element_as_str()}")
                continue
            space.distributions[override.key_or_group] = _distribution(override)
            space.expressions[override.key_or_group] = override.input_line or key
        if not space.distributions:
            raise SearchSpaceError(
                "the search space is empty: give at least one key to search, e.g. "
                "'model.units=choice(16,32,64)' or 'model.dropout=interval(0.0,0.5)', on the command "
                "line or in a search/ config (conf/search/example.yaml)")
        return space

    @property
    def keys(self) -> list[str]:
        return list(self.distributions)

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's overrides: its sampled values, then the fixed ones."""
        return [f"{key}={_as_override_value(params[key])}" for key in self.distributions] + self.fixed

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every key, for the grid sampler (discrete spaces only)."""
        grid = {}
        for key, distribution in self.distributions.items():
            values = discrete_values(distribution)
            if values is None:
                raise SearchSpaceError(
                    f"{self.expressions[key]}: the grid sampler needs a finite set of values; "
                    "use choice(...) or range(...) for this key, or another sampler "
                    "(hydra/sweeper/sampler=tpe or random)")
            grid[key] = values
        return grid

    def size(self) -> int | None:
        """How many configurations the space holds (None when a key is continuous)."""
        try:
            counts = [len(values) for values in self.grid().values()]
        except SearchSpaceError:
            return None
        total = 1
        for count in counts:
            total *= count
        return total

    def candidate_jobs(self) -> list[list[str]]:
        """Overrides that between them hold every value the space can produce at
        its extremes (every choice, each bound of a range or interval): checking
        these checks everything a trial can be given."""
        candidates = {key: extreme_values(distribution) for key, distribution in self.distributions.items()}
        combinations = 1
        for values in candidates.values():
            combinations *= len(values)
        if combinations <= MAX_COMBINATIONS_CHECKED:
            return [self.overrides(dict(zip(candidates, values)))
                    for values in itertools.product(*candidates.values())]
        first = {key: values[0] for key, values in candidates.items()}
        return [self.overrides({**first, key: value}) for key, values in candidates.items() for value in values]

    def to_json(self) -> dict[str, str]:
        from optuna.distributions import distribution_to_json

        return {key: distribution_to_json(distribution) for key, distribution in self.distributions.items()}


def _distribution(override: Any) -> BaseDistribution:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    sweep = override.value()
    if isinstance(sweep, ChoiceSweep) or (isinstance(sweep, RangeSweep) and sweep.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise SearchSpaceError(f"{override.input_line}: the range holds no value")
        if all(isinstance(value, int) for value in values):
            return IntDistribution(values[0], values[-1], step=int(sweep.step)) if len(values) > 1 \
                else CategoricalDistribution(values)
        return CategoricalDistribution(values)  # a float range: exactly its values
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if not low < high:
            raise SearchSpaceError(f"{override.input_line}: an interval needs its start below its end")
        log = "log" in sweep.tags
        if log and low <= 0:
            raise SearchSpaceError(f"{override.input_line}: a log interval needs a start > 0")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise SearchSpaceError(f"{override.input_line}: not a sweep the search understands "
                           "(choice, range, interval, tag(log, interval))")


def discrete_values(distribution: BaseDistribution) -> list[Any] | None:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution) and not distribution.log:
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    return None


def extreme_values(distribution: BaseDistribution) -> list[Any]:
    values = discrete_values(distribution)
    if values is not None and isinstance(distribution, CategoricalDistribution):
        return values
    return [distribution.low, distribution.high]


def _as_override_value(value: Any) -> str:
    # Floats as Python writes them back (repr) so the job sees the sampled value itself.
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return str(value)
