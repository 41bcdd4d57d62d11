"""A search space from Hydra's override grammar, as Optuna distributions.

    model.units=choice(16,32,64,128)      categorical (so is model.units=16,32)
    model.hidden_layers=range(1,3)        integers 1 and 2 (Python's range: the stop is left out)
    model.dropout=interval(0.0,0.6)       a float, uniform in [0.0, 0.6]
    train.learning_rate=tag(log,interval(1e-4,1e-2))   a float, log-uniform
    model.units=int(interval(8,64))       an integer in [8, 64] (tag(log, ...) too)

Hydra's Optuna sweeper's grammar, with `range` as Hydra's basic sweeper (a grid)
reads it, so that one override means the same in a grid and in a search. Hydra's
Optuna sweeper differs there: its range(1,3) is IntDistribution(1, 3), its stop
included (its grid sampler leaves it out), and a float range is a stepped float
with its stop included; here a float range is searched as exactly the values a
grid would run, a choice, and a warning says so. Overrides that sweep nothing
(`train.epochs=4`, `~key`) are given to every trial as they are.

Keys that apply to one value of a searched key only (a model family's own keys)
go in hydra.sweeper.conditional_params, a mapping from that value, written as an
override, to its own params; Optuna samples them only on trials given that value:

    params:
      model: choice(dense,conv1d,rnn)
    conditional_params:
      model=dense: {model.units: choice(16,32,64)}
      model=rnn: {model.cell: choice(lstm,gru), model.bidirectional: false}

In the study a conditional key is named after its condition (`model=rnn:model.cell`),
so that each value's keys keep distributions of their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

# Above this many combinations of the values a space can produce, each searched
# key's values are checked on their own (with the other keys at their first value).
MAX_COMBINATIONS_CHECKED = 256


class SearchSpaceError(ValueError):
    """Overrides the search cannot turn into distributions (every one of them)."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class SearchSpace:
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    expressions: dict[str, str] = field(default_factory=dict)  # key -> as typed, for messages
    fixed: list[str] = field(default_factory=list)  # overrides every trial gets as they are
    notes: list[str] = field(default_factory=list)  # warnings on how an override is searched
    branches: list[Branch] = field(default_factory=list)  # hydra.sweeper.conditional_params

    @staticmethod
    def from_overrides(arguments: Iterable[str], config_loader: Any = None, allow_empty: bool = False) -> SearchSpace:
        """The space of `arguments`; SearchSpaceError listing every override that cannot be searched."""
        space, problems = SearchSpace.parse(arguments, config_loader, allow_empty)
        if problems:
            raise SearchSpaceError(problems)
        return space

    @staticmethod
    def parse(arguments: Iterable[str], config_loader: Any = None, allow_empty: bool = False,
              conditional: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[SearchSpace, list[str]]:
        """The space of the overrides that can be searched, and why each other one cannot
        (an empty space too, unless `allow_empty`: a custom_search_space function
        may suggest every key itself); `conditional`: hydra.sweeper.conditional_params."""
        from hydra.core.override_parser.overrides_parser import OverridesParser

        space, problems = SearchSpace(), []
        for override in OverridesParser.create(config_loader=config_loader).parse_overrides(list(arguments)):
            if override.is_delete() or not override.is_sweep_override():
                space.fixed.append((override.input_line or f"~{override.get_key_element()}")
                                   if override.is_delete() else
                                   f"{override.get_key_element()}={override.get_value_element_as_str()}")
                continue
            try:
                distribution = _distribution(override)
            except SearchSpaceError as error:
                problems += error.problems
                continue
            # The key as typed, `+` kept: `+model.width` adds a key of the user's own model.
            space.distributions[override.get_key_element()] = distribution
            space.expressions[override.get_key_element()] = override.input_line or override.get_key_element()
            note = _float_range_note(override, distribution)
            if note:
                space.notes.append(note)
        for label, params in (conditional or {}).items():
            branch, branch_problems = Branch.parse(str(label), params, space, config_loader)
            problems += branch_problems
            if branch is not None:
                space.branches.append(branch)
        if not space.distributions and not problems and not allow_empty:
            problems.append(
                "the search space is empty: give at least one key to search, e.g. "
                "'model.units=choice(16,32,64)' or 'model.dropout=interval(0.0,0.5)', on the command "
                "line or in a search/ config (conf/search/example.yaml)")
        return space, problems

    @property
    def keys(self) -> list[str]:
        """The searched config keys (`+model.width` as model.width), conditional ones
        after the rest, each once."""
        return list(dict.fromkeys(key.lstrip("+") for key in [
            *self.distributions, *(key for branch in self.branches for key in branch.space.distributions)]))

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's overrides: its sampled values (a custom_search_space function's keys
        after the space's), those of the conditions it meets, then the fixed ones."""
        conditional = {branch.name(key) for branch in self.branches for key in branch.space.distributions}
        suggested = [key for key in params if key not in self.distributions and key not in conditional]
        keys = [*self.distributions, *suggested]
        fixed_keys = {override.split("=", 1)[0].lstrip("~+") for override in self.fixed}
        clashes = [key for key in suggested if key.lstrip("+") in fixed_keys]
        if clashes:
            raise SearchSpaceError(f"{', '.join(clashes)}: suggested on the trial and also fixed by the command "
                                   "line or the search config; give each key one way")
        overrides = [f"{key}={_as_override_value(params[key])}" for key in keys]
        for branch in self.branches:
            if branch.holds(params):
                overrides += [f"{key}={_as_override_value(params[branch.name(key)])}"
                              for key in branch.space.distributions if branch.name(key) in params]
                overrides += branch.space.fixed
        return overrides + self.fixed

    def suggest_conditional(self, trial: Any) -> None:
        """Sample on `trial` the conditional keys of every condition its values meet."""
        for branch in self.branches:
            if branch.holds(trial.params):
                for key, distribution in branch.space.distributions.items():
                    suggest(trial, branch.name(key), distribution)

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every key, for the grid sampler (discrete spaces only)."""
        problems = self.grid_problems()
        if problems:
            raise SearchSpaceError(problems)
        values = {key: discrete_values(distribution) for key, distribution in self.distributions.items()}
        return {key: key_values for key, key_values in values.items() if key_values is not None}

    def grid_problems(self) -> list[str]:
        """Each key the grid sampler cannot hold: it needs a finite set of values, and
        one grid for every trial (no conditional keys)."""
        problems = [f"{self.expressions[key]}: the grid sampler needs a finite set of values; use choice(...) or "
                    "range(...) for this key, or another sampler (hydra/sweeper/imdb_sampler=tpe or random)"
                    for key, distribution in self.distributions.items() if discrete_values(distribution) is None]
        problems += [f"hydra.sweeper.conditional_params.{branch.label}: the grid sampler runs one grid for every "
                     "trial; grid the conditional keys with a grid sweep of its own, or use another sampler "
                     "(hydra/sweeper/imdb_sampler=tpe or random)" for branch in self.branches]
        return problems

    def size(self) -> int | None:
        """How many configurations the space holds (None when a key is continuous)."""
        if self.grid_problems():
            return None
        total = 1
        for values in self.grid().values():
            total *= len(values)
        return total

    def candidate_jobs(self) -> list[list[str]]:
        """Overrides that between them hold every value the space can produce at
        its extremes (every choice, each bound of a range or interval; each
        condition's keys with every value that turns them on): checking these
        checks everything a trial can be given."""
        jobs = []
        for params in self.extreme_params():
            with_branches = [params]
            for branch in self.branches:
                if branch.holds(params):
                    with_branches = [{**chosen, **{branch.name(key): value for key, value in extra.items()}}
                                     for chosen in with_branches for extra in branch.space.extreme_params()]
            jobs += [self.overrides(chosen) for chosen in with_branches]
        return jobs

    def extreme_params(self) -> list[dict[str, Any]]:
        """Values of the space's own keys that between them hold every extreme value."""
        candidates = {key: extreme_values(distribution) for key, distribution in self.distributions.items()}
        combinations = 1
        for values in candidates.values():
            combinations *= len(values)
        if combinations <= MAX_COMBINATIONS_CHECKED:
            return [dict(zip(candidates, values)) for values in itertools.product(*candidates.values())]
        first = {key: values[0] for key, values in candidates.items()}
        return [{**first, key: value} for key, values in candidates.items() for value in values]

    def to_json(self) -> dict[str, str]:
        from optuna.distributions import distribution_to_json

        return {**{key: distribution_to_json(distribution) for key, distribution in self.distributions.items()},
                **{branch.name(key): distribution_to_json(distribution) for branch in self.branches
                   for key, distribution in branch.space.distributions.items()}}


@dataclass
class Branch:
    """The keys of hydra.sweeper.conditional_params that apply when a searched key
    has one of its values: `label` `model=rnn`, `key` model, `value` rnn."""

    label: str
    key: str
    value: Any
    space: SearchSpace

    @staticmethod
    def parse(label: str, params: Any, searched: SearchSpace, config_loader: Any = None
              ) -> tuple[Branch | None, list[str]]:
        where = f"hydra.sweeper.conditional_params.{label}"
        key, equals, value = label.partition("=")
        choices = searched.distributions.get(key)
        if not equals or not isinstance(choices, CategoricalDistribution):
            return None, [f"{where}: expected KEY=VALUE with KEY a key the search chooses from a list "
                          "(e.g. model=rnn with model: choice(dense,conv1d,rnn) in hydra.sweeper.params)"]
        if value not in [str(choice) for choice in choices.choices]:
            return None, [f"{where}: {value} is not one of {key}'s choices ("
                          + ", ".join(str(choice) for choice in choices.choices) + ")"]
        if not isinstance(params, Mapping):
            return None, [f"{where}: expected a mapping of keys to search expressions, got {params!r}"]
        space, problems = SearchSpace.parse([f"{name}={expression}" for name, expression in params.items()],
                                            config_loader, allow_empty=True)
        chosen = next(choice for choice in choices.choices if str(choice) == value)
        return Branch(label, key, chosen, space), [f"{where}: {problem}" for problem in problems]

    def holds(self, params: Mapping[str, Any]) -> bool:
        return self.key in params and params[self.key] == self.value

    def name(self, key: str) -> str:
        """The study's name of one of its keys: `model=rnn:model.cell`."""
        return f"{self.label}:{key}"


def suggest(trial: Any, name: str, distribution: BaseDistribution) -> Any:
    """trial.suggest_* for a distribution of the space."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step,
                                 log=distribution.log)
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step,
                                   log=distribution.log)
    raise TypeError(f"not a distribution of the search's: {distribution!r}")


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
        return CategoricalDistribution(values)  # a float range: exactly its values (_float_range_note)
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if low is None or high is None or not low < high:
            raise SearchSpaceError(f"{override.input_line}: an interval needs its start below its end")
        log = "log" in sweep.tags
        if log and low <= 0:
            raise SearchSpaceError(f"{override.input_line}: a log interval needs a start > 0")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise SearchSpaceError(f"{override.input_line}: not a sweep the search understands "
                           "(choice, range, interval, tag(log, interval))")


def _float_range_note(override: Any, distribution: BaseDistribution) -> str | None:
    """The warning a float range gets: searched as a choice of its values."""
    from hydra.core.override_parser.types import RangeSweep

    sweep = override.value()
    if not (isinstance(sweep, RangeSweep) and not sweep.shuffle and isinstance(distribution, CategoricalDistribution)
            and any(isinstance(value, float) for value in distribution.choices)):
        return None
    values = list(distribution.choices)
    # Hydra's decimal steps can land on the stop (range(0.0,0.2,step=0.1) runs 0.2 too).
    stop = "" if values[-1] == sweep.stop else f", the stop {sweep.stop} left out"
    return (f"{override.input_line}: a float range is searched as a choice of its {len(values)} values "
            f"{values[0]}..{values[-1]} (as a grid runs it{stop}), not as a stepped "
            f"float (Hydra's Optuna sweeper, which includes the stop); for every value in between use "
            f"interval({sweep.start},{sweep.stop})")


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
    if isinstance(distribution, IntDistribution | FloatDistribution):
        return [distribution.low, distribution.high]
    raise TypeError(f"not a distribution of the search's: {distribution!r}")


def _as_override_value(value: Any) -> str:
    # Floats as Python writes them back (repr) so the job sees the sampled value itself.
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return str(value)
