"""A search across model families: hydra.sweeper.conditional_params holds the keys
that apply to one family only; Optuna samples them only on that family's trials."""

from __future__ import annotations

import optuna
import pytest

from imdb_sweep.search.space import SearchSpace

CONDITIONAL = {
    "model=dense": {"model.units": "choice(16,32)"},
    "model=rnn": {"model.cell": "choice(lstm,gru)", "model.bidirectional": "false"},
}


def family_space() -> SearchSpace:
    space, problems = SearchSpace.parse(["model=choice(dense,conv1d,rnn)", "train.learning_rate=interval(0.001,0.01)"],
                                        conditional=CONDITIONAL)
    assert problems == []
    return space


def test_a_familys_keys_are_sampled_only_on_its_trials_and_become_its_overrides():
    space = family_space()
    assert space.keys == ["model", "train.learning_rate", "model.units", "model.cell"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask(fixed_distributions=space.distributions)
        space.suggest_conditional(trial)
        family = trial.params["model"]
        seen.add(family)
        conditional = sorted(name for name in trial.params if ":" in name)
        expected = {"dense": ["model=dense:model.units"], "rnn": ["model=rnn:model.cell"], "conv1d": []}[family]
        assert conditional == expected
        overrides = space.overrides(trial.params)
        assert overrides[0] == f"model={family}"
        assert any(override.startswith("model.units=") for override in overrides) == (family == "dense")
        assert ("model.bidirectional=False" in overrides) == (family == "rnn")  # Hydra reads it back as false
        study.tell(trial, 0.5)
    assert seen == {"dense", "conv1d", "rnn"}


def test_the_checked_candidates_hold_every_familys_extremes():
    jobs = family_space().candidate_jobs()
    assert {job[0] for job in jobs} == {"model=dense", "model=conv1d", "model=rnn"}
    assert {override for job in jobs for override in job if override.startswith(("model.units", "model.cell"))} == {
        "model.units=16", "model.units=32", "model.cell=lstm", "model.cell=gru"}
    assert all(("model.cell=lstm" in job or "model.cell=gru" in job) == (job[0] == "model=rnn") for job in jobs)


@pytest.mark.parametrize(("conditional", "problem"), [
    ({"model=resnet": {"model.units": "choice(1,2)"}},
     "hydra.sweeper.conditional_params.model=resnet: resnet is not one of model's choices (dense, conv1d, rnn)"),
    ({"seed=1": {"model.units": "choice(1,2)"}},
     "hydra.sweeper.conditional_params.seed=1: expected KEY=VALUE with KEY a key the search chooses from a list"),
    ({"model=rnn": {"model.units": "interval(4,2)"}},
     "hydra.sweeper.conditional_params.model=rnn: model.units=interval(4,2): an interval needs its start below"),
])
def test_a_bad_condition_is_refused_naming_it(conditional, problem):
    _, problems = SearchSpace.parse(["model=choice(dense,conv1d,rnn)"], conditional=conditional)
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_the_grid_sampler_refuses_conditional_keys():
    space, _ = SearchSpace.parse(["model=choice(dense,conv1d,rnn)"], conditional=CONDITIONAL)
    assert space.size() is None
    assert space.grid_problems() == [
        "hydra.sweeper.conditional_params.model=dense: the grid sampler runs one grid for every trial; grid the "
        "conditional keys with a grid sweep of its own, or use another sampler "
        "(hydra/sweeper/imdb_sampler=tpe or random)",
        "hydra.sweeper.conditional_params.model=rnn: the grid sampler runs one grid for every trial; grid the "
        "conditional keys with a grid sweep of its own, or use another sampler "
        "(hydra/sweeper/imdb_sampler=tpe or random)"]
