"""The reaper ends only the runs whose process is provably gone (tracking/liveness.py)."""

from __future__ import annotations

import os
import subprocess
import time

from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.tracking.liveness import reap_dead_runs


def test_reaper_marks_only_provably_dead_runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("reap", artifact_location=(tmp_path / "a").as_uri())
    finished_process = subprocess.Popen(["true"])
    finished_process.wait()
    import socket

    here = socket.gethostname()
    now = time.time()
    cases = {
        "dead_pid_here": {contract.HOST: here, contract.PID: str(finished_process.pid)},
        "live_pid_here": {contract.HOST: here, contract.PID: str(os.getpid())},
        "silent_elsewhere": {contract.HOST: "other-host", contract.PID: "1", contract.HEARTBEAT: f"{now - 3600:.0f}"},
        "beating_elsewhere": {contract.HOST: "other-host", contract.PID: "1", contract.HEARTBEAT: f"{now:.0f}"},
    }
    ids = {}
    for name, run_tags in cases.items():
        run = client.create_run(experiment_id, run_name=name, tags={contract.ROLE: "job", **run_tags})
        ids[name] = run.info.run_id
    foreign = client.create_run(experiment_id, run_name="not ours").info.run_id

    reaped = reap_dead_runs(client, experiment_id, dead_after_seconds=600)
    assert set(reaped) == {ids["dead_pid_here"], ids["silent_elsewhere"]}
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {"dead_pid_here": "KILLED", "live_pid_here": "RUNNING",
                      "silent_elsewhere": "KILLED", "beating_elsewhere": "RUNNING"}
    assert "is gone" in client.get_run(ids["dead_pid_here"]).data.tags[contract.ERROR]
    assert "no heartbeat" in client.get_run(ids["silent_elsewhere"]).data.tags[contract.ERROR]
    assert client.get_run(foreign).info.status == "RUNNING"
