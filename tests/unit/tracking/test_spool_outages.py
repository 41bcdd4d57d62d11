"""The spool across more than one outage of a real `mlflow server`, each injected at a
chosen write (imdb_sweep/tracking/spool.py): no write is lost or sent twice, whoever
sends it (the job, or another sender such as the sweep's end or the sync command)."""
from __future__ import annotations

import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from imdb_sweep import contract
from imdb_sweep.tracking import spool as spooling
from tests.helpers.processes import StoppableServer


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(point.step for point in client.get_metric_history(run_id, key))


@pytest.mark.slow
def test_every_outage_of_one_job_keeps_every_write_whoever_sends_it(tmp_path, monkeypatch):
    # A refused request is spooled at once rather than after MLflow's retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    server = StoppableServer(tmp_path / "store", started=False)
    job = spooling.RunSpool.new(tmp_path / "spool", server.uri, "0", label="job", say=lambda _: None)
    try:
        # Outage 1: the job starts while nothing answers, and has no run id yet.
        job.create_run("units=8", {contract.ROLE: "job"})
        for step in (1, 2):
            job.log_metrics({contract.LOSS: 1.0 / step}, step=step)
        assert job.run_id is None and job.pending == 3
        server.start()
        assert job.send_pending(wait_for_probe=True) == 0 and not job.folder.exists()
        job.log_metrics({contract.LOSS: 1 / 3}, step=3)  # straight to the server

        # Outage 2 of the same job: a new records file, counted from its first line (the
        # defect: the counts of outage 1 carried over and skipped its first lines).
        server.stop()
        for step in (4, 5):
            job.log_metrics({contract.LOSS: 1.0 / step}, step=step)
        assert job.pending == 2
        server.start()
        # Sent by another sender (the sweep's end, the sync command), which removes the folder.
        assert spooling.send_spools([job.folder], 0, lambda _: None) == []
        assert not job.folder.exists()
        # The job's next write goes straight to the server, not into a records file that
        # the job would count from outage 2's lines.
        job.log_metrics({contract.LOSS: 1 / 6}, step=6)
        job.end(RunStatus.FINISHED)
        assert job.pending == 0 and job.send_pending(wait_for_probe=True) == 0 and not job.folder.exists()

        client = MlflowClient(server.uri)
        (run,) = client.search_runs(["0"])  # created once, though sent by a replay
        assert run.info.run_id == job.run_id and run.info.status == "FINISHED"
        assert _steps(client, run.info.run_id, contract.LOSS) == [1, 2, 3, 4, 5, 6]
    finally:
        server.close()
