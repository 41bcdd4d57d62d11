"""One job from start to end, read top to bottom in `run_job`:

1. check every config value and the data path;
2. connect to the tracking store, and mark KILLED the runs of dead processes;
3. load the data: with the config it makes the job's `config_hash`;
4. unless `sweep.rerun=all`: a FINISHED run of this configuration answers the
   job (never a pruned one); a checkpoint of an interrupted one resumes that run
   after its last epoch;
5. train inside the job's MLflow run, logging every epoch, and record the results
   (the model that scores raw text among them); in a search, every epoch is
   reported to the job's Optuna trial, whose pruner may stop it early;
6. a single run with `tracking.register=<name>` registers itself (sweeps register
   their best run at the end, sweep/callback.py).

Bad input fails in 1-3, before a run exists, so it never leaves a half-written run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from imdb_sweep import contract
from imdb_sweep.config.identity import (
    config_hash,
    distinguishing_overrides,
    flatten_config,
    run_name_from_overrides,
    short_value,
)
from imdb_sweep.config.validation import ConfigError, validate_config
from imdb_sweep.console import labelled_output, say
from imdb_sweep.data import ImdbData, PreviousLoad, check_data_source
from imdb_sweep.models import family_of
from imdb_sweep.tracking.liveness import Heartbeat, reap_dead_runs
from imdb_sweep.tracking.records import (
    backfill_epochs,
    history_csv,
    log_dataset,
    log_params,
    log_text_artifacts,
    log_text_model,
)
from imdb_sweep.tracking.runs import find_finished_run, job_run, run_tags
from imdb_sweep.tracking.store import TrackingTarget, connect
from imdb_sweep.tracking.sweep_state import SweepState
from imdb_sweep.tracking.uris import store_files_folder
from imdb_sweep.training.checkpoints import CheckpointState, CheckpointStore

if TYPE_CHECKING:
    import keras

    from imdb_sweep.search.trial_link import TrialLink
    from imdb_sweep.training.epoch_rule import EpochRule


@dataclass(frozen=True)
class JobContext:
    """Where a job stands in its sweep; all empty for a single run."""

    overrides: list[str] = field(default_factory=list)
    job_number: int | None = None  # 1-based; in a search, the trial number + 1
    sweep: SweepState | None = None
    trial_number: int | None = None  # the Optuna trial a search job answers (sweep.trial)

    @staticmethod
    def from_hydra(cfg: DictConfig | None = None) -> JobContext:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return JobContext()
        hydra_cfg = HydraConfig.get()
        overrides = list(hydra_cfg.overrides.task)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            return JobContext(overrides=overrides)
        trial = OmegaConf.select(cfg, "sweep.trial", default=None) if cfg is not None else None
        return JobContext(
            overrides=overrides,
            job_number=contract.job_number(int(trial if trial is not None else hydra_cfg.job.num)),
            sweep=SweepState.find(Path(hydra_cfg.sweep.dir)),
            trial_number=trial,
        )

    def trial_link(self) -> TrialLink | None:
        """The search trial this job answers; None outside a search."""
        if self.trial_number is None or self.sweep is None or self.sweep.search is None:
            return None
        from imdb_sweep.search.trial_link import SearchInfo, TrialLink

        return TrialLink(SearchInfo.from_mapping(self.sweep.search), self.trial_number)

    def distinguishing_overrides(self) -> list[str]:
        # sweep.trial tells trials apart for the search, not configurations for people.
        overrides = [override for override in self.overrides if not override.startswith("sweep.trial=")]
        return distinguishing_overrides(overrides, self.sweep.swept_keys if self.sweep else None)

    def position(self) -> str | None:
        """`[3/8]` in a grid, `[trial 7]` in a search (Optuna's trial number: retries
        of lost trials make it run past n_trials), None for a single run."""
        if self.trial_number is not None:
            return f"[trial {self.trial_number}]"
        if self.job_number is None:
            return None
        total = self.sweep.total_jobs if self.sweep and self.sweep.total_jobs else "?"
        return f"[{self.job_number}/{total}]"

    def label(self) -> str:
        overrides = " ".join(_short_override(override) for override in self.distinguishing_overrides())
        overrides = overrides or "(defaults)"
        return f"{self.position()} {overrides}" if self.position() else overrides


def _short_override(override: str) -> str:
    key, _, value = override.partition("=")
    return f"{key}={short_value(value)}"


def check_job_inputs(cfg: DictConfig) -> None:
    """Every config value, the data path and a custom model's builder, before anything else happens."""
    validate_config(cfg)
    check_data_source(cfg.data)
    if family_of(cfg.model) == "custom":
        from imdb_sweep.models.custom import builder_problems

        problems = builder_problems(cfg.model, num_words=cfg.data.num_words, maxlen=cfg.data.maxlen)
        if problems:
            raise ConfigError(problems)


# The previous job's data, kept for the next job of the same process (PreviousLoad).
_previous_load = PreviousLoad()


def run_job(cfg: DictConfig, context: JobContext | None = None) -> dict[str, float]:
    """Train one configuration and record it as one MLflow run; return its final metrics."""
    job_started = time.perf_counter()
    context = context or JobContext()
    check_job_inputs(cfg)
    target = connect(cfg.tracking, cfg.sweep.connect_attempts,
                     sweep_uri=context.sweep.tracking_uri if context.sweep else None)
    client = MlflowClient(target.uri)
    for run_id in reap_dead_runs(client, target.experiment_id, cfg.sweep.dead_after_seconds):
        say(f"Marked run {run_id} KILLED: its process is gone")

    say(context.label())
    link = context.trial_link()
    data_started = time.perf_counter()
    data = _previous_load.load(cfg.data)
    data_seconds = time.perf_counter() - data_started
    job_hash = config_hash(cfg, data.source_digest)

    if cfg.sweep.rerun == "missing":
        finished = find_finished_run(client, target.experiment_id, job_hash)
        if finished is not None:
            metrics = _answer_from_finished_run(client, finished, context, link)
            _register_single_run(cfg, context, target.uri, finished.info.run_id)
            return metrics
    checkpoints, resume = _checkpoints_and_resume(cfg, client, job_hash)

    try:
        run_id, metrics = _train_in_run(cfg, context, target, client, data, job_hash, checkpoints, resume, link,
                                        timings={contract.DATA_SECONDS: data_seconds, "job_started": job_started})
        if checkpoints is not None:
            checkpoints.remove()  # the run is FINISHED: nothing left to resume
    except Exception as error:
        say_failed(context, error)
        raise
    finally:
        if checkpoints is not None:
            checkpoints.release()
    pruned_at_epoch = metrics.get(contract.RETURNED_PRUNED_AT_EPOCH)
    pruned = f"pruned after epoch {int(pruned_at_epoch)}: " if pruned_at_epoch is not None else "done: "
    say(f"{context.label()} {pruned}{contract.BEST_VAL_ACCURACY}={metrics[contract.BEST_VAL_ACCURACY]:.4f} "
        f"(epoch {int(metrics[contract.BEST_EPOCH])}) {contract.TEST_ACCURACY}={metrics[contract.TEST_ACCURACY]:.4f} "
        f"run {run_id}")
    _register_single_run(cfg, context, target.uri, run_id)
    return metrics


def say_failed(context: JobContext, error: BaseException) -> None:
    """A job's failure, said at once: in a multirun Hydra reports failures only after the
    last job, and a search only tells its study that the trial failed."""
    say(f"{context.label()} FAILED: {type(error).__name__}: {error}", stream=sys.stderr)


def _register_single_run(cfg: DictConfig, context: JobContext, tracking_uri: str, run_id: str) -> None:
    """tracking.register on a single run: the run is its own winner. (In a sweep the
    callback registers the best run once every job has ended.)"""
    name = cfg.tracking.register
    if not name or context.sweep is not None:
        return
    from imdb_sweep.report.registry import register_run
    from imdb_sweep.report.runs import JobRun

    run = JobRun.from_mlflow(MlflowClient(tracking_uri).get_run(run_id))
    say(register_run(tracking_uri, run, name, configuration=context.label()).describe())


def _answer_from_finished_run(client: MlflowClient, finished: Run, context: JobContext,
                              link: TrialLink | None) -> dict[str, float]:
    """Skip a job whose configuration already has a FINISHED run; list it on the sweep
    (and in a search, tell the trial that run's epochs)."""
    run_id = finished.info.run_id
    if context.sweep is not None:
        client.set_tag(context.sweep.parent_run_id, contract.reused_tag(context.job_number or run_id), run_id)
    if link is not None:
        history = client.get_metric_history(run_id, link.info.objective_metric.epoch_key)
        link.report_epochs([point.value for point in sorted(history, key=lambda point: point.step)])
        link.record_run(run_id)
    say(f"{context.label()} skipped: FINISHED run {run_id} has this exact configuration "
        "(sweep.rerun=all trains it again)")
    return dict(finished.data.metrics)


def _checkpoints_and_resume(cfg: DictConfig, client: MlflowClient, job_hash: str,
                            ) -> tuple[CheckpointStore | None, CheckpointState | None]:
    """The configuration's checkpoint folder (None when switched off) and the
    checkpoint to resume from, if its run still exists and did not finish."""
    if not cfg.sweep.checkpoints:
        return None, None
    root = cfg.sweep.checkpoint_dir or store_files_folder(cfg.tracking.store_dir) / "checkpoints"
    checkpoints = CheckpointStore(Path(root).expanduser(), job_hash)
    if not checkpoints.claim():
        say(f"Another job is training this configuration ({job_hash}) right now: this one keeps no checkpoints")
        return None, None
    if cfg.sweep.rerun == "all":
        checkpoints.remove()
        return checkpoints, None
    state = checkpoints.load_state()
    if state is None:
        return checkpoints, None
    try:
        run = client.get_run(state.run_id)
    except Exception:  # noqa: BLE001 - a run deleted or in another store: start afresh
        return checkpoints, None
    return checkpoints, (state if run.info.status != "FINISHED" else None)


def _train_in_run(cfg: DictConfig, context: JobContext, target: TrackingTarget, client: MlflowClient,
                  data: ImdbData, job_hash: str, checkpoints: CheckpointStore | None,
                  resume: CheckpointState | None, link: TrialLink | None,
                  timings: dict[str, float]) -> tuple[str, dict[str, float]]:
    # TensorFlow starts only now, quietly: the checks above come back in a blink.
    from imdb_sweep.process.quiet_tensorflow import start_tensorflow

    start_tensorflow()
    from imdb_sweep.tracking.epoch_logger import EpochMetricsLogger
    from imdb_sweep.training.callbacks import EpochTimer
    from imdb_sweep.training.fit import choose_model_epoch, train
    from imdb_sweep.training.fused.model import portable_model

    sweep = context.sweep
    job_tags = run_tags(
        "job", OVERRIDES=" ".join(context.overrides), CONFIG_HASH=job_hash, DATA_DIGEST=data.source_digest,
        SWEEP_ID=sweep.sweep_id if sweep else None,
        RESUMED_AT_EPOCH=str(resume.epochs_done) if resume else None,
        TRIAL_NUMBER=str(context.trial_number) if context.trial_number is not None else None,
    )
    run_name = run_name_from_overrides(context.distinguishing_overrides(),
                                       fallback=str(OmegaConf.select(cfg, "variant", default=None) or "custom"))
    with job_run(target, run_name, sweep.parent_run_id if sweep else None, job_tags,
                 resume_run_id=resume.run_id if resume else None) as run, \
            Heartbeat(client, run.info.run_id, cfg.sweep.heartbeat_seconds):
        run_id = run.info.run_id
        if resume is None:
            _record_inputs(client, run_id, cfg, context, data)
        else:
            _reopen_resumed_run(client, run_id, resume, context)
        timer = EpochTimer()
        callbacks = [EpochMetricsLogger(run_id, timer)]
        reporter = _trial_reporter(link, run_id, cfg.train.epochs, resume)
        if reporter is not None:
            callbacks.append(reporter)
        with labelled_output(context.position()):
            result = train(cfg, data, callbacks=callbacks, checkpoints=checkpoints,
                           run_id=run_id, resume=resume, epoch_timer=timer,
                           model_epoch_rule=_model_epoch_rule(link))
        # Whether the encoded reviews came from the cache explains data_seconds.
        metrics = {**result.summary_metrics(), contract.DATA_SECONDS: timings[contract.DATA_SECONDS],
                   contract.DATA_FROM_CACHE: float(data.from_cache)}
        log_text_artifacts({"history.csv": history_csv(result.history)})
        pruned_at_epoch = reporter.pruned_at_epoch if reporter is not None else None
        if pruned_at_epoch is not None:
            mlflow.set_tag(contract.PRUNED_AT_EPOCH, str(pruned_at_epoch))
        # A pruned run can never be the winner: its model is not worth logging.
        if cfg.tracking.log_model and pruned_at_epoch is None:
            # The weights of the epoch the ranking metric stands for, and their test numbers.
            metrics.update(choose_model_epoch(result, cfg, data).metrics())
            model_started = time.perf_counter()
            log_text_model(portable_model(result.model), data.vocabulary, cfg.data.num_words, cfg.data.maxlen,
                           data_source=data.source, data_digest=data.source_digest)
            metrics[contract.MODEL_LOGGING_SECONDS] = time.perf_counter() - model_started
        metrics[contract.JOB_SECONDS] = time.perf_counter() - timings["job_started"]
        mlflow.log_metrics(metrics)
    if pruned_at_epoch is not None:
        metrics[contract.RETURNED_PRUNED_AT_EPOCH] = float(pruned_at_epoch)
    return run_id, metrics


def _model_epoch_rule(link: TrialLink | None) -> EpochRule:
    """The epoch whose weights the run's model holds: the one the metric that ranks
    this job's runs stands for. A search ranks by its objective, in its direction; a
    grid or a single run by best_val_accuracy (report/table.py DEFAULT_RANKING_METRIC)."""
    from imdb_sweep.training.epoch_rule import BEST_VAL_ACCURACY

    return link.info.objective_metric.epoch_rule(link.info.direction) if link is not None else BEST_VAL_ACCURACY


def _trial_reporter(link: TrialLink | None, run_id: str, epochs: int,
                    resume: CheckpointState | None) -> keras.callbacks.Callback | None:
    """In a search, the callback that reports each epoch to the trial; a resumed
    run's earlier epochs are reported first."""
    if link is None:
        return None
    link.record_run(run_id)
    previous = resume.history.get(link.info.objective_metric.epoch_key, []) if resume else []
    link.report_epochs(previous)
    return link.callback(epochs, previous)


def _record_inputs(client: MlflowClient, run_id: str, cfg: DictConfig, context: JobContext, data: ImdbData) -> None:
    """A new run's params, datasets and config files."""
    log_params(flatten_config(cfg))
    log_dataset(client, run_id, data.x_train, data.y_train, data.location, data.digest, "training")
    log_dataset(client, run_id, data.x_test, data.y_test, data.location, data.digest, "test")
    log_text_artifacts({
        "config/resolved_config.yaml": OmegaConf.to_yaml(cfg, resolve=True),
        "config/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(context.overrides)),
    })


def _reopen_resumed_run(client: MlflowClient, run_id: str, resume: CheckpointState, context: JobContext) -> None:
    """A resumed run: its old error cleared, the checkpoint's epochs it lacks logged."""
    if contract.ERROR in client.get_run(run_id).data.tags:
        client.delete_tag(run_id, contract.ERROR)
    restored = backfill_epochs(client, run_id, resume.history, resume.epoch_seconds)
    say(f"{context.label()} resuming run {run_id} after epoch {resume.epochs_done}"
        + (f" ({restored} epoch point(s) restored from the checkpoint)" if restored else ""))
