"""One job from start to end: validate, load data, train, record in MLflow.

The order matters: everything that can fail on bad input (config values, the
dataset path, the tracking server) is checked before a run is created, so bad
input never leaves a half-written run behind. Then, unless `sweep.rerun=all`:
a configuration that already has a FINISHED run is skipped, and one with a
checkpoint resumes in its own run from its last completed epoch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from imdb_sweep import tags, tracking
from imdb_sweep.checkpoints import CheckpointState, CheckpointStore
from imdb_sweep.data import ImdbData, check_data_source, load_imdb, resolve_source
from imdb_sweep.liveness import Heartbeat, reap_dead_runs
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


def checkpoint_root(cfg: DictConfig) -> Path:
    configured = cfg.sweep.checkpoint_dir
    return Path(configured if configured else Path(cfg.tracking.store_dir) / "checkpoints").expanduser()


def _resumable(client: MlflowClient, store: CheckpointStore) -> CheckpointState | None:
    """A checkpoint whose run still exists and did not finish (else it is stale)."""
    state = store.load_state()
    if state is None:
        return None
    try:
        run = client.get_run(state.run_id)
    except Exception:  # noqa: BLE001 - a run deleted or in another store: start afresh
        return None
    return state if run.info.status != "FINISHED" else None


# The last job's data, kept for the next job of the same process.
_loaded_data: dict[str, ImdbData] = {}


def _load_data(data_cfg: DictConfig) -> ImdbData:
    """load_imdb, reusing the arrays of this process's previous job when it loaded
    the same data: most jobs of a multirun do (basic launcher, joblib workers),
    and each would otherwise hash the archive and read the cache again, about a
    third of a second per job. Keyed by the data settings and the archive's
    size and modification time, so a changed archive is read afresh."""
    _, path = resolve_source(data_cfg)
    stamp = None
    if path is not None and path.is_file():
        stat = path.stat()
        stamp = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    key = repr((OmegaConf.to_container(data_cfg, resolve=True), stamp))
    if key not in _loaded_data:
        _loaded_data.clear()  # one data set at a time: the arrays are about 100 MB
        _loaded_data[key] = load_imdb(data_cfg)
    return _loaded_data[key]


def run_job(cfg: DictConfig, context: JobContext | None = None) -> dict[str, float]:
    """Train one configuration and record it as one MLflow run; return its final metrics."""
    job_started = time.perf_counter()
    context = context or JobContext()
    validate_config(cfg)
    check_data_source(cfg.data)
    target = tracking.connect(cfg.tracking, cfg.sweep.connect_attempts,
                              sweep_uri=context.sweep.tracking_uri if context.sweep else None)
    client = MlflowClient(target.uri)
    for run_id in reap_dead_runs(client, target.experiment_id, cfg.sweep.dead_after_seconds):
        _say(f"Marked run {run_id} KILLED: its process is gone")

    _say(context.label())
    started = time.perf_counter()
    data = _load_data(cfg.data)
    data_seconds = time.perf_counter() - started
    config_hash = tracking.config_hash(cfg, data.source_digest)
    parent_run_id = context.sweep.parent_run_id if context.sweep else None

    if cfg.sweep.rerun == "missing":
        finished = tracking.find_finished_run(client, target.experiment_id, config_hash)
        if finished is not None:
            return _reuse(client, finished, context, parent_run_id)

    checkpoints = CheckpointStore(checkpoint_root(cfg), config_hash) if cfg.sweep.checkpoints else None
    resume = None
    if checkpoints is not None:
        if cfg.sweep.rerun == "all":
            checkpoints.remove()
        else:
            resume = _resumable(client, checkpoints)

    variant = OmegaConf.select(cfg, "variant", default=None) or "custom"
    run_name = tracking.run_name_from_overrides(context.distinguishing_overrides(), fallback=str(variant))
    run_tags = {
        tags.ROLE: "job",
        tags.OVERRIDES: " ".join(context.overrides),
        tags.CONFIG_HASH: config_hash,
        tags.DATA_DIGEST: data.source_digest,
        **tracking.host_tags(),
    }
    commit = tracking.git_commit()
    if commit:
        run_tags[tags.GIT_COMMIT] = commit
    if context.sweep is not None:
        run_tags[tags.SWEEP_ID] = context.sweep.sweep_id
    if resume is not None:
        run_tags[tags.RESUMED_AT_EPOCH] = str(resume.epochs_done)

    # Keras is imported only now: validation errors above come back in a blink.
    from imdb_sweep.fused_steps import portable_model
    from imdb_sweep.train import train

    try:
        with tracking.job_run(target, run_name, parent_run_id, run_tags,
                              resume_run_id=resume.run_id if resume else None) as run:
            run_id = run.info.run_id
            with Heartbeat(client, run_id, cfg.sweep.heartbeat_seconds):
                if resume is None:
                    tracking.log_params(tracking.flatten_config(cfg))
                    tracking.log_dataset(client, run_id, data.x_train, data.y_train, data.location,
                                         data.digest, "training")
                    tracking.log_dataset(client, run_id, data.x_test, data.y_test, data.location,
                                         data.digest, "test")
                    tracking.log_text_artifacts({
                        "config/resolved_config.yaml": OmegaConf.to_yaml(cfg, resolve=True),
                        "config/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(context.overrides)),
                    })
                else:
                    if tags.ERROR in client.get_run(run_id).data.tags:
                        client.delete_tag(run_id, tags.ERROR)
                    backfilled = tracking.backfill_epochs(client, run_id, resume.history, resume.epoch_seconds)
                    _say(f"{context.label()} resuming run {run_id} after epoch {resume.epochs_done}"
                         + (f" ({backfilled} epoch point(s) restored from the checkpoint)" if backfilled else ""))
                result = train(cfg, data, callbacks=[tracking.epoch_metrics_callback(run_id)],
                               checkpoints=checkpoints, run_id=run_id, resume=resume)
                metrics = result.summary_metrics()
                metrics["data_seconds"] = data_seconds
                tracking.log_text_artifacts({"history.csv": tracking.history_csv(result.history)})
                if cfg.tracking.log_model:
                    tracking.log_keras_model(portable_model(result.model))
                metrics["job_seconds"] = time.perf_counter() - job_started
                mlflow.log_metrics(metrics)
    except Exception as error:
        # Said at once: in a multirun Hydra only reports failures after the last job.
        print(f"{context.label()} FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        raise
    if checkpoints is not None:
        checkpoints.remove()

    _say(
        f"{context.label()} done: test_accuracy={metrics['test_accuracy']:.4f} "
        f"best_val_accuracy={metrics['best_val_accuracy']:.4f} (epoch {int(metrics['best_epoch'])}) "
        f"run {run_id}"
    )
    return metrics


def _reuse(client: MlflowClient, finished: Any, context: JobContext, parent_run_id: str | None) -> dict[str, float]:
    """Skip a job whose configuration already has a FINISHED run; list it on the sweep."""
    run_id = finished.info.run_id
    if parent_run_id is not None:
        key = f"{tags.REUSED_PREFIX}{context.job_number or run_id}"
        client.set_tag(parent_run_id, key, run_id)
    _say(f"{context.label()} skipped: FINISHED run {run_id} has this exact configuration "
         "(sweep.rerun=all trains it again)")
    return dict(finished.data.metrics)
