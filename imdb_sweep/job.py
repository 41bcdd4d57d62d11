"""One job from start to end: validate, load data, train, record in MLflow.

The order matters: everything that can fail on bad input (config values, the
dataset path, the tracking server) is checked before a run is created, so bad
input never leaves a half-written run behind.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from omegaconf import DictConfig, OmegaConf

from imdb_sweep import tracking
from imdb_sweep.data import check_data_source, load_imdb
from imdb_sweep.sweep_state import SweepState
from imdb_sweep.validation import validate_config


@dataclass(frozen=True)
class JobContext:
    """Where a job stands in its sweep; all empty for a single run."""

    overrides: list[str] = field(default_factory=list)
    job_number: int | None = None  # 1-based
    sweep: SweepState | None = None
    output_dir: Path | None = None

    @staticmethod
    def from_hydra() -> JobContext:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return JobContext()
        hydra_cfg = HydraConfig.get()
        overrides = list(hydra_cfg.overrides.task)
        output_dir = Path(hydra_cfg.runtime.output_dir)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            return JobContext(overrides=overrides, output_dir=output_dir)
        return JobContext(
            overrides=overrides,
            job_number=int(hydra_cfg.job.num) + 1,
            sweep=SweepState.find(Path(hydra_cfg.sweep.dir)),
            output_dir=output_dir,
        )

    def distinguishing_overrides(self) -> list[str]:
        return tracking.job_overrides(self.overrides, self.sweep.swept_keys if self.sweep else None)

    def label(self) -> str:
        position = ""
        if self.job_number is not None:
            total = self.sweep.total_jobs if self.sweep and self.sweep.total_jobs else "?"
            position = f"[{self.job_number}/{total}] "
        return position + (" ".join(self.distinguishing_overrides()) or "(defaults)")


def _say(message: str) -> None:
    print(message, flush=True)


def run_job(cfg: DictConfig, context: JobContext | None = None) -> dict[str, float]:
    """Train one configuration and record it as one MLflow run; return its final metrics."""
    job_started = time.perf_counter()
    context = context or JobContext()
    validate_config(cfg)
    check_data_source(cfg.data)
    target = tracking.connect(cfg.tracking, cfg.sweep.connect_attempts)

    _say(context.label())
    started = time.perf_counter()
    data = load_imdb(cfg.data)
    data_seconds = time.perf_counter() - started

    variant = OmegaConf.select(cfg, "variant", default=None) or "custom"
    run_name = tracking.run_name_from_overrides(context.distinguishing_overrides(), fallback=str(variant))
    tags = {
        tracking.TAG_ROLE: "job",
        tracking.TAG_OVERRIDES: " ".join(context.overrides),
        tracking.TAG_CONFIG_HASH: tracking.config_hash(cfg, data.source_digest),
        tracking.TAG_DATA_DIGEST: data.source_digest,
        **tracking.host_tags(),
    }
    commit = tracking.git_commit()
    if commit:
        tags[tracking.TAG_GIT_COMMIT] = commit
    if context.sweep is not None:
        tags[tracking.TAG_SWEEP_ID] = context.sweep.sweep_id
    parent_run_id = context.sweep.parent_run_id if context.sweep else None

    # Keras is imported only now: validation errors above come back in a blink.
    from imdb_sweep.train import train

    try:
        with tracking.job_run(target, run_name, parent_run_id, tags) as run:
            tracking.log_params(tracking.flatten_config(cfg))
            tracking.log_dataset(data.x_train, data.y_train, data.location, data.digest, "training")
            tracking.log_dataset(data.x_test, data.y_test, data.location, data.digest, "test")
            tracking.log_text_artifacts({
                "config/resolved_config.yaml": OmegaConf.to_yaml(cfg, resolve=True),
                "config/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(context.overrides)),
            })
            result = train(cfg, data, callbacks=[tracking.EpochMetricsLogger.create(run.info.run_id)])
            metrics = result.summary_metrics()
            metrics["data_seconds"] = data_seconds
            tracking.log_text_artifacts({"history.csv": tracking.history_csv(result.history)})
            if cfg.tracking.log_model:
                tracking.log_keras_model(result.model)
            metrics["job_seconds"] = time.perf_counter() - job_started
            mlflow.log_metrics(metrics)
    except Exception as error:
        # Said at once: in a multirun Hydra only reports failures after the last job.
        print(f"{context.label()} FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        raise

    _say(
        f"{context.label()} done: test_accuracy={metrics['test_accuracy']:.4f} "
        f"best_val_accuracy={metrics['best_val_accuracy']:.4f} (epoch {int(metrics['best_epoch'])}) "
        f"run {run.info.run_id}"
    )
    return metrics
