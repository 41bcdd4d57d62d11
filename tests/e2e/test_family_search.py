"""A search across model families on the command line: each trial trains with its family's own keys."""

from __future__ import annotations

import pytest

from imdb_sweep import contract
from imdb_sweep.tracking.records import param_from_text
from tests.helpers.cli import TINY, run_cli
from tests.helpers.searches import SEARCH, read_search


@pytest.mark.slow
def test_a_search_over_families_runs_each_trial_with_its_familys_own_keys(cli_env, tmp_path):
    searched = run_cli([*SEARCH, *TINY, "search=families", "hydra.sweeper.n_trials=5",
                        "hydra/sweeper/imdb_sampler=random", "hydra.sweeper.sampler.seed=11",
                        "hydra.sweeper.pruner=none", "train.epochs=2"],
                       cwd=tmp_path, env=cli_env)
    assert searched.returncode == 0, searched.stderr[-3000:]
    _, parent, children, study = read_search(tmp_path)
    assert len(children) == 5
    # Seed 11's five trials: four families, rnn among them with a sampled boolean.
    assert {run.data.params["model.family"] for run in children} >= {"rnn", "conv1d", "transformer"}
    trials = {trial.number: trial for trial in study.trials}
    for run in children:
        trial = trials[int(run.data.tags[contract.TRIAL_NUMBER])]
        family = trial.params["model"]
        assert run.data.params["model.family"] == family
        conditional = {name.split(":", 1)[1] for name in trial.params if ":" in name}
        assert all(name.startswith(f"model={family}:") for name in trial.params if ":" in name)
        for key in conditional:  # each sampled key is the run's own, as the config had it
            assert param_from_text(run.data.params[key]) == trial.params[f"model={family}:{key}"]
