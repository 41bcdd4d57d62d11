"""A search on a two-node Ray cluster, one node killed mid-trial: run as a script inside a
loopback-only network namespace (`unshare -n`), so that nothing leaves 127.0.0.1.

    python tests/helpers/ray_two_nodes.py STORE RESULT_JSON -- -m hydra/sweeper=imdb_optuna OVERRIDES...

Starts an MLflow server and a Ray cluster of a head and a second node (Ray's
`ray.cluster_utils.Cluster`, one CPU each, both on this host), runs the search with
Hydra's Ray launcher, watches which node's processes run each trial's job (a Ray
worker is a descendant of its node's raylet), and once a trial on the second node has
logged an epoch, removes that node (its processes killed). Writes what it saw to
RESULT_JSON: the search's exit status and output, each run's node, the run killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PORT = 5056
WATCH_SECONDS = 0.2


def parent_pid(pid: int) -> int | None:
    try:
        # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after its ')'.
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def node_of(pid: int, raylets: dict[int, str]) -> str | None:
    while pid and pid > 1:
        if pid in raylets:
            return raylets[pid]
        pid = parent_pid(pid) or 0
    return None


def start_server(store: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(PORT), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{store}/mlflow.db", "--artifacts-destination", f"{store}/artifacts",
         "--serve-artifacts"], stdout=(store / "server.log").open("w"), stderr=subprocess.STDOUT)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the MLflow server did not start")


def main() -> None:
    store, result_path, overrides = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[4:]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = start_server(store)
    from mlflow.tracking import MlflowClient
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    second = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    raylets = {cluster.head_node.all_processes["raylet"][0].process.pid: "head",
               second.all_processes["raylet"][0].process.pid: "second"}
    uri = f"http://127.0.0.1:{PORT}"
    env = {**os.environ, "RAY_ADDRESS": cluster.address, "MLFLOW_TRACKING_URI": uri}
    search = subprocess.Popen([sys.executable, "-m", "imdb_sweep", *overrides, "hydra/launcher=ray"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = MlflowClient(uri)
    nodes: dict[str, str] = {}
    killed = None
    output: list[str] = []
    import threading

    reader = threading.Thread(target=lambda: output.extend(search.stdout or []), daemon=True)
    reader.start()
    while search.poll() is None:
        time.sleep(WATCH_SECONDS)
        experiment = client.get_experiment_by_name("on-ray")
        if experiment is None:
            continue
        for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'"):
            pid = run.data.tags.get("imdb_sweep.pid")
            node = node_of(int(pid), raylets) if pid else None
            if node is None or run.data.tags.get("imdb_sweep.role") != "job":
                continue
            nodes.setdefault(run.info.run_id, node)
            if killed is None and node == "second" and "val_accuracy" in run.data.metrics:
                cluster.remove_node(second)  # mid-trial: an epoch logged, more to come
                killed = run.info.run_id
    reader.join(timeout=10)
    cluster.shutdown()
    server.terminate()
    server.wait()
    result_path.write_text(json.dumps({"returncode": search.returncode, "output": "".join(output),
                                       "nodes": nodes, "killed": killed}))


if __name__ == "__main__":
    main()
