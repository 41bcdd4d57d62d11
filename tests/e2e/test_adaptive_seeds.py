"""hydra/sweeper=adaptive_seeds as a user runs it: the tiny archive, real processes and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from tests.helpers.cli import TINY, run_cli


def store_runs(cwd: Path) -> tuple[MlflowClient, list, list]:
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sweep")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    parents = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    jobs = [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]
    return client, parents, jobs


@pytest.mark.slow
def test_each_configuration_takes_the_seeds_the_rule_asks_for_under_one_parent(tmp_path, cli_env):
    result = run_cli(["-m", "hydra/sweeper=adaptive_seeds", "hydra.sweeper.min_seeds=2", "hydra.sweeper.max_seeds=3",
                      *TINY, "train.epochs=1", "model.units=4,8", "seed=10"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 job(s) (2 configuration(s) x 2 seeds; more seeds, up to 3, where an effect is unsettled)" in result.stdout
    client, parents, jobs = store_runs(tmp_path)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert (tags[contract.SEED_RULE_MIN_SEEDS], tags[contract.SEED_RULE_MAX_SEEDS]) == ("2", "3")
    assert (tags[contract.SEED_RULE_HALF_WIDTH], tags[contract.SEED_RULE_METRIC]) == ("0.005", "best_val_accuracy")
    record = json.loads(Path(client.download_artifacts(parent.info.run_id, contract.SEED_ROUNDS_ARTIFACT,
                                                       str(tmp_path))).read_text())
    # One effect (units=8 against units=4) takes in both configurations: they get seeds together,
    # 2 when round 1 settled it, else 3 (the cap), seeds counted up from seed=10.
    rounds = int(tags[contract.SEED_RULE_ROUNDS])
    assert rounds in (1, 2) and len(record["rounds"]) == rounds
    assert tags[contract.SEED_RULE_OUTCOME] == ("settled" if rounds == 1 else record_outcome(record))
    expected_seeds = [10, 11] if rounds == 1 else [10, 11, 12]
    taken = {entry["configuration"]: entry["seeds"] for entry in record["configurations"]}
    assert taken == {"model.units=4": expected_seeds, "model.units=8": expected_seeds}
    # Every job ran under the parent, with the seed the record says, and the parent counts them.
    assert all(job.data.tags[contract.PARENT_RUN_ID] == parent.info.run_id for job in jobs)
    logged = sorted((int(job.data.params["model.units"]), int(job.data.params["seed"])) for job in jobs)
    assert logged == sorted((units, seed) for units in (4, 8) for seed in expected_seeds)
    assert parent.data.metrics["jobs_finished"] == len(jobs) and parent.data.metrics["jobs_not_started"] == 0
    assert f"Seeds until the answer is clear: {rounds} round(s)" in result.stdout
    # The report (printed at the sweep's end) shows the rule and the seeds each configuration took.
    assert "### Seeds until the answer is clear" in result.stdout
    assert f"| units=4 | {len(expected_seeds)} |" in result.stdout
    assert "Bonferroni" in result.stdout


def record_outcome(record: dict) -> str:
    """After two rounds: capped when a configuration stopped at the cap with an effect still open."""
    reasons = [entry["reason"] for entry in record["configurations"]]
    return "capped" if any("still unsettled" in reason for reason in reasons) else "settled"


def test_bad_settings_stop_the_sweep_before_any_run(tmp_path, cli_env):
    result = run_cli(["-m", "hydra/sweeper=adaptive_seeds", "hydra.sweeper.min_seeds=4", "hydra.sweeper.max_seeds=3",
                      "hydra.sweeper.half_width=-1", *TINY, "model.units=4,8", "seed=1,2"], cwd=tmp_path, env=cli_env)
    assert result.returncode != 0
    assert "hydra.sweeper.half_width = -1 is not allowed" in result.stderr
    assert "seed is swept, but hydra/sweeper=adaptive_seeds chooses the seeds itself" in result.stderr
    assert "Traceback" not in result.stderr and "Epoch" not in result.stdout
    assert store_runs(tmp_path)[1:] == ([], [])
    # min > max is said once the single-key checks pass.
    result = run_cli(["-m", "hydra/sweeper=adaptive_seeds", "hydra.sweeper.min_seeds=4", "hydra.sweeper.max_seeds=3",
                      *TINY, "model.units=4,8"], cwd=tmp_path, env=cli_env)
    assert result.returncode != 0
    assert "hydra.sweeper.max_seeds = 3 is not allowed: expected at least hydra.sweeper.min_seeds (4)" in result.stderr
    assert store_runs(tmp_path)[1:] == ([], [])
