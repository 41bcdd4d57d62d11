"""`python -m imdb_sweep.server` serving what a sweep wrote, a server that is dead or dies
mid-job, and the UI page of a sweep in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.sweep import parent
from imdb_sweep.tracking import runs, store, uris
from imdb_sweep.tracking.spool import RunSpool
from tests.helpers.cli import TINY, cli_environment, run_cli
from tests.helpers.paths import PROJECT_ROOT
from tests.helpers.processes import free_port, start_mlflow_server, stop_process, wait_for_http


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (Linux /proc/net/tcp)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, _, state = line.split()[1], None, line.split()[3]
            address, port_hex = local.split(":")
            if int(port_hex, 16) == port and state == "0A":  # LISTEN
                addresses.add(address)
    return addresses


@pytest.mark.slow
def test_the_local_server_shows_what_a_sweep_wrote_and_binds_localhost(tmp_path, compose_config):
    # A run written straight to the default store, as a sweep without a tracking URI does.
    cfg = compose_config(f"tracking.store_dir={tmp_path / 'mlruns'}")
    target = store.connect(cfg.tracking)
    written = RunSpool.new(tmp_path / "spool", target.uri, target.experiment_id)
    with runs.job_run(written, "units=8", None, {contract.ROLE: "job"}):
        written.log_metrics({"val_accuracy": 0.75}, step=1)
        written.log_text("epoch,val_accuracy\n1,0.75\n", "history.csv")
    mlflow.set_tracking_uri(None)

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "imdb_sweep.server", "--store", "mlruns", "--port", str(port)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        client = MlflowClient(f"http://127.0.0.1:{port}")
        experiment = client.get_experiment_by_name("imdb-sweep")
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.run_id == written.run_id and run.info.status == "FINISHED"
        assert run.data.metrics["val_accuracy"] == 0.75
        assert [a.path for a in client.list_artifacts(run.info.run_id)].count("history.csv") == 1
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
    finally:
        stop_process(process)


@pytest.mark.slow
def test_a_dead_server_uri_fails_the_sweep_before_training(tmp_path, tiny_archive):
    uri = f"http://127.0.0.1:{free_port()}"
    env = {"IMDB_SWEEP_ACLIMDB": str(tiny_archive), "MLFLOW_TRACKING_URI": uri}
    started = time.monotonic()
    result = run_cli(["-m", *TINY, "model.units=8,16"], cwd=tmp_path, env=env)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert f"MLFLOW_TRACKING_URI = '{uri}': the MLflow tracking server is not reachable" in result.stderr
    assert "Epoch" not in result.stdout and "[1/2]" not in result.stdout
    # The check itself takes about 3 s (3 attempts); the rest is the CLI's start-up,
    # which a loaded machine stretches.
    assert elapsed < 45, elapsed
    print(f"dead server URI -> error message: {elapsed:.1f} s (whole CLI, including start-up)")


@pytest.mark.slow
def test_a_single_run_whose_server_dies_trains_on_and_says_where_its_writes_wait(tmp_path, tiny_archive):
    store = tmp_path / "server_store"
    process, uri = start_mlflow_server(store)
    env = {**os.environ, **cli_environment(tiny_archive, tmp_path / "cache", uri), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("IMDB_SWEEP_STATE", None)
    epochs = 60
    job = subprocess.Popen([sys.executable, "-m", "imdb_sweep", *TINY, f"train.epochs={epochs}",
                            "sweep.sync_wait_seconds=2"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = MlflowClient(uri)
        deadline = time.monotonic() + 120
        run_id = None
        while time.monotonic() < deadline and job.poll() is None:
            experiment = client.get_experiment_by_name("imdb-sweep")
            runs = client.search_runs([experiment.experiment_id]) if experiment else []
            if runs and len(client.get_metric_history(runs[0].info.run_id, "val_accuracy")) >= 2:
                run_id = runs[0].info.run_id
                break
            time.sleep(0.2)
        assert run_id is not None, "the job logged no epochs"
        stop_process(process)
        stdout, stderr = job.communicate(timeout=300)
    finally:
        if job.poll() is None:
            job.kill()
        stop_process(process)
    # It trained every epoch, then waited sweep.sync_wait_seconds for the server and
    # failed naming where the rest waits and the command that sends it.
    assert job.returncode != 0
    assert f"the tracking server {uri} did not answer within sweep.sync_wait_seconds = 2" in stderr
    assert "python -m imdb_sweep.sync" in stderr
    (folder,) = (tmp_path / "mlruns" / "spool").iterdir()
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    spooled_steps = [record["metrics"][0][3] for record in records if record["op"] == "metrics"]

    # The store is intact and keeps every epoch sent before the server died, once each.
    database = sqlite3.connect(store / "mlflow.db")
    assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    steps = [step for (step,) in database.execute(
        "SELECT step FROM metrics WHERE run_uuid = ? AND key = 'val_accuracy' ORDER BY step", (run_id,))]
    assert len(steps) >= 2 and steps == list(range(1, len(steps) + 1)) and len(steps) < epochs
    # The rest waits in the spool, in order, and then the final metrics (step 0).
    assert spooled_steps == [*range(len(steps) + 1, epochs + 1), 0]
    (status,) = database.execute("SELECT status FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
    assert status == "RUNNING"  # its end waits in the spool with its last epochs


# ---------------------------------------------------------------------------
# The parent run's page in headless Chromium
# ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
# Each page in a browser profile of its own: one that has never opened MLflow, so
# no view switch saved in its storage, as a new user finds it.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--window-size=1366,900",
                  "--virtual-time-budget=20000"]  # the page's scripts draw it before the DOM is printed


def rendered_page(address: str, profile: Path) -> str:
    result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", address],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def run_page_breadcrumb(page: str) -> str | None:
    """The run page's link back to its experiment's list: `Runs`, or `Evaluations` in the GenAI view."""
    link = re.search(r'data-testid="experiment-observatory-link-runs"[^>]*>([^<]*)<', page)
    return link.group(1) if link else None


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                    "(apt-get install chromium; .ci/run installs it)")
def test_the_printed_sweep_address_opens_the_model_training_view(mlflow_server, compose_config, tmp_path):
    target = store.connect(compose_config(f"tracking.uri={mlflow_server}", "tracking.experiment=ui-view").tracking)
    client = MlflowClient(target.uri)
    sweep = parent.create_parent_run(client, target, "s1", "model.units=8,16", "units=8,16")
    job = RunSpool.new(tmp_path / "spool", target.uri, target.experiment_id)
    with runs.job_run(job, "units=8", sweep.info.run_id, {contract.ROLE: "job"}):
        job.log_metrics({"val_accuracy": 0.75}, step=1)
    client.set_terminated(sweep.info.run_id)
    mlflow.set_tracking_uri(None)

    address = uris.run_address(target.uri, target.experiment_id, sweep.info.run_id)
    page = rendered_page(address, tmp_path / "profile")
    assert "units=8,16 · s1" in page, "the run page did not render: " + page[-2000:]
    assert run_page_breadcrumb(page) == "Runs"
    assert "Evaluation runs" not in page  # the GenAI view's side navigation

    # The same page without the parameter: MLflow 3.17's GenAI view, the experiment's tag notwithstanding.
    bare = rendered_page(address.removesuffix(uris.UI_VIEW_QUERY), tmp_path / "profile-bare")
    assert "units=8,16 · s1" in bare, "the run page did not render: " + bare[-2000:]
    assert run_page_breadcrumb(bare) == "Evaluations" and "Evaluation runs" in bare, (
        "MLflow's UI no longer opens a run page in its GenAI view: uris.UI_VIEW_QUERY may be unneeded")
