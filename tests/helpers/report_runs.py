"""Runs written into a local store with MlflowClient the way sweeps and jobs write them:
exact numbers for the report tests, no training."""

from __future__ import annotations

from pathlib import Path

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from imdb_sweep import contract

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


EXPERIMENT = "imdb-sweep"


class FakeSweeps:
    """Sweeps written into a local store the way the sweep callback and jobs write them."""

    def __init__(self, folder: Path) -> None:
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        self.client = MlflowClient(self.uri)
        self.experiment_id = self.client.create_experiment(
            EXPERIMENT, artifact_location=(folder / "artifacts").as_uri())
        self.clock = 1_700_000_000_000

    def _tick(self) -> int:
        self.clock += 1000
        return self.clock

    def sweep(self, sweep_id: str) -> str:
        parent = self.client.create_run(
            self.experiment_id, run_name=f"sweep {sweep_id}", start_time=self._tick(),
            tags={contract.ROLE: "sweep", contract.SWEEP_ID: sweep_id})
        return parent.info.run_id

    def job(self, parent_run_id: str | None, params: dict[str, object], test_accuracy: float | None,
            status: str = "FINISHED", sweep_id: str = "", validation_accuracy: float | None = None) -> str:
        job_tags = {contract.ROLE: "job", contract.SWEEP_ID: sweep_id}
        if parent_run_id:
            job_tags[contract.PARENT_RUN_ID] = parent_run_id
        name = ",".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in params.items()
                        if key in ("model.units", "seed", "variant"))
        run = self.client.create_run(self.experiment_id, run_name=name, start_time=self._tick(), tags=job_tags)
        metrics = []
        if test_accuracy is not None:
            if validation_accuracy is None:
                validation_accuracy = test_accuracy + 0.01
            final = {"test_accuracy": test_accuracy, "test_loss": 1 - test_accuracy,
                     "best_val_accuracy": validation_accuracy, "best_epoch": 1.0,
                     "final_val_accuracy": test_accuracy, "train_seconds": 2.0}
            metrics += [Metric(key, value, self.clock, 0) for key, value in final.items()]
            for epoch in (1, 2):
                metrics.append(Metric("val_accuracy", test_accuracy - 0.05 * (2 - epoch), self.clock, epoch))
                metrics.append(Metric("val_loss", 0.5 + 0.1 * epoch, self.clock, epoch))
        self.client.log_batch(run.info.run_id, metrics=metrics,
                              params=[Param(key, str(value)) for key, value in params.items()])
        self.client.set_terminated(run.info.run_id, status)
        return run.info.run_id


def job_params(units: str, seed: int, **extra: object) -> dict[str, object]:
    # Storage params differ from job to job as they do in real sweeps (other
    # machines, other folders); they must not split a configuration.
    return {"model.units": units, "model.activation": "relu", "seed": seed,
            "data.path": f"/data/{seed}.tgz", "tracking.store_dir": f"/runs/{seed}",
            "runtime.verbose": seed % 2, "variant": "baseline" if units == "32" else f"units{units}",
            **extra}
