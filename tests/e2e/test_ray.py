"""A sweep on a real Ray cluster (Hydra's Ray launcher) against a real MLflow server.

Ray binds to the machine's network address whatever it is told, so the whole
scenario (MLflow server, Ray head, sweep) runs in a private network namespace
that has only a loopback interface: nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from tests.helpers.cli import TINY
from tests.helpers.namespaces import can_make_network_namespace
from tests.helpers.paths import PROJECT_ROOT

pytest.importorskip("hydra_plugins.hydra_ray_launcher",
                    reason="the Ray launcher is not installed (pip install -e '.[ray]')")

SCENARIO = r"""
set -u
ip link set lo up
bin=$(dirname "$PYTHON")
"$PYTHON" -m mlflow server --host 127.0.0.1 --port 5055 --workers 1 \
    --backend-store-uri "sqlite:///$STORE/mlflow.db" --artifacts-destination "$STORE/artifacts" \
    --serve-artifacts > "$STORE/server.log" 2>&1 &
server=$!
"$PYTHON" - <<'WAIT'
import time, urllib.request
for _ in range(240):
    try:
        urllib.request.urlopen("http://127.0.0.1:5055/health", timeout=1); break
    except OSError:
        time.sleep(0.5)
WAIT
"$bin/ray" start --head --num-cpus 2 --port 6391 --include-dashboard false --disable-usage-stats \
    > "$STORE/ray.log" 2>&1 || { cat "$STORE/ray.log"; exit 3; }
RAY_ADDRESS=127.0.0.1:6391 MLFLOW_TRACKING_URI=http://127.0.0.1:5055 \
    "$PYTHON" -m imdb_sweep -m hydra/launcher=ray "$@"
status=$?
"$bin/ray" stop --force > /dev/null 2>&1
kill $server; wait $server 2>/dev/null
exit $status
"""


@pytest.mark.slow
@pytest.mark.skipif(not can_make_network_namespace(), reason="needs `unshare -n` (root) and iproute2's `ip`")
def test_a_grid_sweep_runs_on_a_ray_cluster(tiny_archive, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    # Not cli_environment: the scenario gives the tracking URI to the job's command alone, and the
    # Ray processes it starts must not inherit an empty one.
    env = {**os.environ, "PYTHON": sys.executable, "STORE": str(store),
           "PYTHONPATH": str(PROJECT_ROOT), "IMDB_SWEEP_ACLIMDB": str(tiny_archive),
           "IMDB_SWEEP_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("IMDB_SWEEP_STATE", None)
    result = subprocess.run(
        ["unshare", "-n", "bash", "-c", SCENARIO, "scenario",
         "model.units=8,16", "model.activation=relu,tanh", "train.epochs=2", *TINY,
         "tracking.experiment=on-ray"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    output = result.stdout + result.stderr
    # Each job announced once, by itself from its Ray worker (Ray forwards the
    # workers' output); the launcher's own "#N : overrides" lines are off.
    assert all(f"[{number}/4] model.units=" in output for number in range(1, 5)), output[-4000:]
    assert "#0 : " not in output

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("on-ray")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if run.data.tags.get(contract.ROLE) == "sweep"]
    jobs = [run for run in runs if run.data.tags.get(contract.ROLE) == "job"]
    assert parent.info.status == "FINISHED"
    assert len(jobs) == 4 and all(job.info.status == "FINISHED" for job in jobs)
    assert all(job.data.tags[contract.PARENT_RUN_ID] == parent.info.run_id for job in jobs)
    grid = {(job.data.params["model.units"], job.data.params["model.activation"]) for job in jobs}
    assert grid == {("8", "relu"), ("8", "tanh"), ("16", "relu"), ("16", "tanh")}
    # The jobs ran in Ray worker processes, not in the sweep's own process.
    assert {job.data.tags[contract.PID] for job in jobs}.isdisjoint({parent.data.tags[contract.PID]})
    for job in jobs:
        steps = sorted(p.step for p in client.get_metric_history(job.info.run_id, "val_accuracy"))
        assert steps == [1, 2]
