"""Joining a search by name: a worker given only the storage and the study name runs the
study's search (space, fixed overrides, objective, sampler, pruner); a command that
names the study with another search is refused, each difference shown, before any run."""

from __future__ import annotations

import pytest

from imdb_sweep import contract
from tests.helpers.cli import TINY, run_cli
from tests.helpers.searches import SEARCH, assert_complete_search, read_search

# Placement only (config/identity.py): these may differ between workers.
PLACEMENT = ["runtime.verbose=0", "tracking.log_model=false"]


@pytest.mark.slow
def test_a_worker_joins_a_study_by_its_name_alone(tmp_path, cli_env):
    journal = tmp_path / "shared" / "search.journal"
    named = [f"hydra.sweeper.storage={journal}", "hydra.sweeper.study_name=shared"]
    first = run_cli([*SEARCH, *named, *TINY, "train.epochs=2", "hydra.sweeper.n_trials=2",
                     "hydra.sweeper.pruner=asha", "hydra/sweeper/imdb_sampler=random", "hydra.sweeper.sampler.seed=5",
                     "model.units=choice(4,8)", "model.dropout=interval(0.0,0.5)"], cwd=tmp_path, env=cli_env)
    assert first.returncode == 0, first.stderr[-3000:]

    # The storage, the name, more trials and this machine's own placement: nothing else.
    joined = run_cli([*SEARCH, *named, "hydra.sweeper.n_trials=4", *PLACEMENT], cwd=tmp_path, env=cli_env)
    assert joined.returncode == 0, joined.stderr[-3000:]
    assert "Joining study 'shared'" in joined.stdout
    parent, children, study = assert_complete_search(tmp_path, 4, storage=str(journal))
    # (The study's seeded sampler proposes the first worker's two configurations again:
    # those trials are answered by their FINISHED runs, so fewer than 4 runs may exist.)
    for run in children:  # every trial got the study's fixed overrides and space
        assert run.data.params["train.epochs"] == "2" and run.data.params["data.maxlen"] == "50"
        assert run.data.params["model.units"] in {"4", "8"} and 0 <= float(run.data.params["model.dropout"]) <= 0.5
    assert parent.data.tags[contract.SEARCH_PRUNER].startswith("asha")
    assert parent.data.tags[contract.SEARCH_SAMPLER] == "random"

    # The same name with another space: refused, each difference named, nothing run.
    other = run_cli([*SEARCH, *named, *TINY, "train.epochs=3", "hydra.sweeper.n_trials=6",
                     "hydra.sweeper.pruner=asha", "hydra/sweeper/imdb_sampler=random", "hydra.sweeper.sampler.seed=5",
                     "model.units=choice(4,16)", "model.dropout=interval(0.0,0.5)"], cwd=tmp_path, env=cli_env)
    assert other.returncode != 0
    assert "Traceback" not in other.stderr
    message = other.stdout + other.stderr
    assert "model.units: the study searches choice(4,8), this command choice(4,16)" in message
    assert "train.epochs: the study searches 2, this command 3" in message
    assert "model.dropout" not in message.split("searches something else")[1]  # the same there
    _, _, after, study_after = read_search(tmp_path, storage=str(journal))
    assert len(after) == len(children) and len(study_after.trials) == len(study.trials)


def test_a_name_with_no_study_behind_it_is_refused(tmp_path, cli_env):
    result = run_cli([*SEARCH, f"hydra.sweeper.storage={tmp_path / 'search.journal'}",
                      "hydra.sweeper.study_name=nowhere", *PLACEMENT], cwd=tmp_path, env=cli_env, timeout=180)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "study 'nowhere' in" in result.stderr and "does not exist: give the search space" in result.stderr
