"""No idle slots: with two slots (hydra/launcher=parallel), a slot whose trial ends launches the
next trial at once, while the other slot's long trial still runs; the guarantees hold (budget,
trial numbers, one parent). Batches would start trial 2 only after both trials of the first
batch ended."""

from __future__ import annotations

import pytest

from imdb_sweep import contract
from tests.helpers.cli import TINY, run_cli
from tests.helpers.searches import SEARCH, assert_complete_search


@pytest.mark.slow
def test_a_slot_whose_trial_ended_does_not_wait_for_the_other(tmp_path, cli_env):
    # The random sampler with seed 5 draws 60, 1, 1 epochs for trials 0, 1, 2 (train.epochs
    # asked first): trial 0 is long, trials 1 and 2 short.
    result = run_cli([*SEARCH, "hydra/launcher=parallel", *TINY, "hydra.sweeper.n_trials=3",
                      "hydra/sweeper/imdb_sampler=random", "hydra.sweeper.sampler.seed=5",
                      "train.epochs=choice(1,60)", "model.dropout=interval(0.0,0.5)"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    parent, children, study = assert_complete_search(tmp_path, 3)
    runs = {int(run.data.tags[contract.TRIAL_NUMBER]): run for run in children}
    assert {number: run.data.params["train.epochs"] for number, run in runs.items()} == {0: "60", 1: "1", 2: "1"}
    # Trial 2 went to the slot trial 1 left, before trial 0 ended.
    assert runs[2].info.start_time >= runs[1].info.end_time
    assert runs[2].info.start_time < runs[0].info.end_time
    # Each job got a job number of its own: its own folder of the sweep.
    assert sorted(path.parent.name for path in tmp_path.glob("multirun/*/*/*/.hydra")) == ["0", "1", "2"]
