"""Jobs side by side: the `parallel` (joblib) launcher preset against the default local store.
The PostgreSQL-backed server case is in test_postgres.py; the thread count per job in
tests/unit/process/test_threads.py."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.helpers.cli import TINY, run_cli


@pytest.mark.slow
def test_a_parallel_sweep_on_the_local_store_nests_every_job_once(tmp_path, cli_env):
    result = run_cli(["-m", "hydra/launcher=parallel", *TINY, "train.epochs=2", "model.units=8,16,24",
                      "runtime.verbose=2"], cwd=tmp_path, env=cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ended FINISHED: 3 finished" in result.stdout
    # Two jobs print side by side: every Keras line names its job, and each job
    # is announced once (ours, not also the launcher's "#0 : model.units=8").
    keras_lines = [line for line in result.stdout.splitlines() if "Epoch " in line or " - loss: " in line]
    assert len(keras_lines) >= 3 * 2 * 2, result.stdout[-3000:]
    assert all(re.match(r"\[[123]/3\] ", line) for line in keras_lines), keras_lines
    assert {line[:5] for line in keras_lines} == {"[1/3]", "[2/3]", "[3/3]"}
    assert "#0 : " not in result.stdout + result.stderr

    database = sqlite3.connect(tmp_path / "mlflow.db")
    runs = database.execute(
        "SELECT r.run_uuid, r.status, p.value, pid.value FROM runs r "
        "LEFT JOIN tags p ON p.run_uuid = r.run_uuid AND p.key = 'mlflow.parentRunId' "
        "LEFT JOIN tags pid ON pid.run_uuid = r.run_uuid AND pid.key = 'imdb_sweep.pid'").fetchall()
    parents = [run for run in runs if run[2] is None]
    jobs = [run for run in runs if run[2] is not None]
    assert len(parents) == 1 and len(jobs) == 3
    assert {run[2] for run in jobs} == {parents[0][0]}
    assert all(status == "FINISHED" for _, status, _, _ in runs)
    # The jobs ran in joblib's worker processes, not in the launching one.
    assert parents[0][3] not in {run[3] for run in jobs}
    points = database.execute(
        "SELECT run_uuid, step, count(*) FROM metrics WHERE key = 'val_accuracy' GROUP BY run_uuid, step"
    ).fetchall()
    assert sorted(step for _, step, _ in points) == [1, 1, 1, 2, 2, 2]
    assert all(count == 1 for *_, count in points)
    threads = database.execute("SELECT DISTINCT value FROM params WHERE key = 'runtime.threads'").fetchall()
    assert threads == [("1",)]
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
