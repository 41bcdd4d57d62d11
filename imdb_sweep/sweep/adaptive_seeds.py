"""A grid with seeds until the answer is clear (hydra/sweeper=adaptive_seeds).

    python -m imdb_sweep -m hydra/sweeper=adaptive_seeds model.units=32,64 model.activation=relu,tanh

Round 1 runs every configuration of the grid with `min_seeds` seeds (seed, seed+1, ...,
`seed` being the config's value). After each round the stopping rule of
imdb_sweep/report/seed_rule.py looks at the returned validation metric: every
configuration that takes part in an unsettled effect (its CI, at the look's spent
confidence, covers 0 and is wider than ± half_width) gets one more seed in the next
round, until none does or it reaches `max_seeds`. The rule and its error rate are
written in seed_rule.py; here are only the rounds.

The grid's callback (callback.py) owns the parent run, as for Hydra's basic sweeper:
it checks these settings before any job (check_adaptive_seeds) and ends the parent
with the job count this sweeper republishes after each round. At the end the parent
run gets the rule as tags (the report reads them back) and the rounds as an artifact.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from imdb_sweep import contract
from imdb_sweep.config.schema.sweeper import AdaptiveSeedsSweeperConfig
from imdb_sweep.config.validation import ConfigError, Problem, schema_problems
from imdb_sweep.console import print_flushed
from imdb_sweep.report.effects import default_values
from imdb_sweep.report.runs import JobRun
from imdb_sweep.report.seed_rule import SeedPlan, SeedRule, plan_seeds, rule_tags, rule_text
from imdb_sweep.tracking.records import param_from_text, param_text
from imdb_sweep.tracking.sweep_state import SweepState

ADAPTIVE_SEEDS_SWEEPER = "hydra_plugins.imdb_sweep_seeds.adaptive_seeds_sweeper.AdaptiveSeedsSweeper"
SEED_KEY = "seed"
# hydra.sweeper.half_width is in points of accuracy; the rule works in accuracy.
POINTS = 100


def is_adaptive_seeds(config: DictConfig) -> bool:
    return config.hydra.sweeper.get("_target_") == ADAPTIVE_SEEDS_SWEEPER


def check_adaptive_seeds(config: DictConfig, swept_keys: list[str]) -> tuple[SeedRule, str]:
    """The rule and metric of hydra.sweeper; every problem with them in one ConfigError."""
    # hydra.sweeper is a mapping: its container a dict.
    sweeper = cast(dict[str, Any], OmegaConf.to_container(config.hydra.sweeper, resolve=True))
    problems: list[Problem | str] = [*schema_problems(sweeper, AdaptiveSeedsSweeperConfig, "hydra.sweeper.")]
    if not problems and sweeper["max_seeds"] < sweeper["min_seeds"]:
        problems.append(Problem("hydra.sweeper.max_seeds", sweeper["max_seeds"],
                                f"at least hydra.sweeper.min_seeds ({sweeper['min_seeds']})"))
    if SEED_KEY in swept_keys:
        problems.append(Problem.said(
            f"{SEED_KEY} is swept, but hydra/sweeper=adaptive_seeds chooses the seeds itself ({SEED_KEY}, "
            f"{SEED_KEY}+1, ...): set {SEED_KEY}=N for the first one, or sweep seeds without "
            "hydra/sweeper=adaptive_seeds", key=SEED_KEY))
    if problems:
        raise ConfigError(problems)
    rule = SeedRule(sweeper["min_seeds"], sweeper["max_seeds"], sweeper["half_width"] / POINTS)
    return rule, sweeper["metric"]


def split_override(override: str) -> tuple[str, str]:
    key, _, value = override.lstrip("+~").partition("=")
    return key, value


@dataclass
class SeedRounds:
    """The rounds' bookkeeping, without Hydra: which configuration runs which seed next,
    from the metric values the earlier rounds returned."""

    grid: list[list[str]]  # each configuration's overrides (no seed)
    swept_keys: list[str]
    rule: SeedRule
    metric: str
    first_seed: int
    defaults: dict[str, Any]  # the default config's values: the effects' references
    values: list[list[float]] = field(default_factory=list)  # per configuration, one per seed so far
    rounds: list[list[int]] = field(default_factory=list)  # the configurations each round ran

    def __post_init__(self) -> None:
        self.values = [[] for _ in self.grid]

    def label(self, index: int) -> str:
        swept = [override for override in self.grid[index] if split_override(override)[0] in self.swept_keys]
        return " ".join(swept) or "(defaults)"

    def first_round(self) -> list[int]:
        """Every configuration, min_seeds times: seed after seed, so a round's first jobs
        cover the whole grid."""
        return [index for _ in range(self.rule.min_seeds) for index in range(len(self.grid))]

    def jobs(self, configurations: list[int]) -> list[list[str]]:
        """The overrides of one job per entry: the configuration's next seeds, in order."""
        taken = [len(values) for values in self.values]
        jobs = []
        for index in configurations:
            jobs.append([*self.grid[index], f"{SEED_KEY}={self.first_seed + taken[index]}"])
            taken[index] += 1
        return jobs

    def record(self, configurations: list[int], values: Sequence[float]) -> None:
        self.rounds.append(list(configurations))
        for index, value in zip(configurations, values, strict=True):
            self.values[index].append(value)

    def runs(self) -> list[JobRun]:
        """The results so far as the report's runs: the swept keys as params, the metric."""
        runs = []
        for index, values in enumerate(self.values):
            params = {key: param_from_text(value) for key, value in map(split_override, self.grid[index])
                      if key in self.swept_keys}
            runs += [JobRun(f"{index}-{seed}", self.label(index), "FINISHED", 0,
                            {**params, SEED_KEY: self.first_seed + seed}, {self.metric: value})
                     for seed, value in enumerate(values)]
        return runs

    def plans(self) -> list[tuple[int, SeedPlan]]:
        """Each configuration (by index) with the rule's verdict on it."""
        runs = self.runs()
        # plan_seeds names a configuration by its params as logged (param_text), as the report does.
        index_of = {tuple(param_text(run.params.get(key)) for key in self.swept_keys): int(run.run_id.split("-")[0])
                    for run in runs}
        plans = plan_seeds(runs, self.swept_keys, self.rule, defaults=self.defaults, metric=self.metric)
        return [(index_of[tuple(plan.configuration[key] for key in self.swept_keys)], plan) for plan in plans]

    def next_round(self) -> list[int]:
        """The configurations that get one more seed; empty when the sweep is done."""
        return sorted(index for index, plan in self.plans() if plan.more)

    def summary(self) -> dict[str, Any]:
        """The record kept on the parent run: the rule, the rounds, each configuration's seeds."""
        plans = dict(self.plans())
        return {
            "rule": {"min_seeds": self.rule.min_seeds, "max_seeds": self.rule.max_seeds,
                     "half_width_points": self.rule.half_width * POINTS, "metric": self.metric,
                     "confidence": self.rule.confidence, "look_confidence": self.rule.look_confidence,
                     "looks": self.rule.looks},
            "rounds": [[self.label(index) for index in round_] for round_ in self.rounds],
            "configurations": [{"configuration": self.label(index),
                                "seeds": [self.first_seed + seed for seed in range(len(values))],
                                self.metric: values, "reason": plans[index].reason}
                               for index, values in enumerate(self.values)],
        }

    def outcome(self) -> str:
        """`settled` when every effect the rule watches is settled, else `capped`."""
        return "capped" if any("still unsettled" in plan.reason for _, plan in self.plans()) else "settled"


def grid_of(jobs: list[list[str]]) -> tuple[list[list[str]], int | None]:
    """The grid's configurations without a fixed `seed=N` (the first seed, which the
    rounds count up from), and that N where given."""
    fixed = [split_override(override)[1] for override in jobs[0] if split_override(override)[0] == SEED_KEY]
    grid = [[override for override in job if split_override(override)[0] != SEED_KEY] for job in jobs]
    return grid, int(fixed[-1]) if fixed else None


def run_rounds(config: DictConfig, hydra_context: Any, launcher: Any, arguments: list[str],
               validate: Callable[[Sequence[Sequence[str]]], None]) -> list[Sequence[Any]]:
    """Launch the rounds (Hydra's launcher, one batch per round) until the rule stops them;
    record the rule and the rounds on the parent run. What Hydra's basic sweeper returns:
    each batch's job returns."""
    from imdb_sweep.sweep.expansion import expand_basic_sweep

    jobs, swept_keys = expand_basic_sweep(config)
    rule, metric = check_adaptive_seeds(config, swept_keys)
    grid, fixed_seed = grid_of(jobs)
    rounds = SeedRounds(grid, swept_keys, rule, metric, fixed_seed if fixed_seed is not None else int(config.seed),
                        default_values())
    sweep_dir = Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")  # as Hydra's basic sweeper keeps it
    state = SweepState.find(None)  # the callback's, in this process
    returns: list[Sequence[Any]] = []
    launched = 0
    configurations = rounds.first_round()
    while configurations:
        batch = rounds.jobs(configurations)
        if state is not None:  # the parent's end counts the jobs launched so far
            state = dataclasses.replace(state, total_jobs=launched + len(batch))
            state.publish(sweep_dir)
        if rounds.rounds:
            print_flushed(f"Seeds, round {len(rounds.rounds) + 1}: one more seed for "
                          f"{len(batch)} configuration(s) with an unsettled effect: "
                          + "; ".join(rounds.label(index) for index in configurations))
        validate(batch)
        results = launcher.launch(batch, initial_job_idx=launched)
        # A failed job raises here, as under Hydra's basic sweeper: the sweep stops, the parent FAILED.
        rounds.record(configurations, [_metric_of(result.return_value, metric) for result in results])
        launched += len(batch)
        returns.append(results)
        configurations = rounds.next_round()
    _say_seeds(rounds)
    if state is not None:
        _record_on_parent(state, rounds)
    return returns


def _metric_of(returned: Any, metric: str) -> float:
    if not isinstance(returned, dict) or metric not in returned:
        raise RuntimeError(f"a job returned {returned!r}, without {metric}: the adaptive seeds cannot judge it")
    return float(returned[metric])


def _say_seeds(rounds: SeedRounds) -> None:
    print_flushed(f"Seeds until the answer is clear: {len(rounds.rounds)} round(s), {rounds.outcome()}.")
    for index, plan in rounds.plans():
        print_flushed(f"  {rounds.label(index)}: {plan.seeds} seed(s); {plan.reason}")


def _record_on_parent(state: SweepState, rounds: SeedRounds) -> None:
    """The rule as tags (the report reads them back), the rounds as an artifact."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(state.tracking_uri)
    tags = {**rule_tags(rounds.rule, rounds.metric), contract.SEED_RULE_ROUNDS: str(len(rounds.rounds)),
            contract.SEED_RULE_OUTCOME: rounds.outcome()}
    try:
        for key, value in tags.items():
            client.set_tag(state.parent_run_id, key, value)
        client.log_dict(state.parent_run_id, rounds.summary(), contract.SEED_ROUNDS_ARTIFACT)
    except Exception as error:  # noqa: BLE001 - the store's own error; the jobs are logged already
        print(f"Could not record the seed rule on the parent run {state.parent_run_id}: "
              f"{type(error).__name__}: {str(error).splitlines()[0][:300]}\n{rule_text(rounds.rule, rounds.metric)}",
              file=sys.stderr, flush=True)
