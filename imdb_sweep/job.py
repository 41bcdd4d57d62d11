"""One job from start to end, read top to bottom in `run_job`:

1. check every config value and the data path;
2. connect to the tracking store, and mark KILLED the runs of dead processes;
3. load the data: with the config it makes the job's `config_hash`;
4. unless `sweep.rerun=all`: a FINISHED run of this configuration answers the
   job (never a pruned one); a checkpoint of an interrupted one resumes that run
   after its last epoch;
5. train inside the job's MLflow run, logging every epoch, and record the results
   (the model that scores raw text among them); in a search, every epoch is
   reported to the job's Optuna trial, whose pruner may stop it early. Every write
   goes through the run's spool (tracking/spool.py): a tracking server that stops
   answering never stops training, and a job of a sweep that starts while it is
   away trains too, its run created when it answers;
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
from imdb_sweep.console import labelled_output, print_flushed
from imdb_sweep.data import ImdbData, PreviousLoad
from imdb_sweep.job_inputs import check_job_inputs
from imdb_sweep.tracking.liveness import PeriodicBeat, reap_dead_runs
from imdb_sweep.tracking.records import (
    backfill_epochs,
    dataset_input,
    history_csv,
    param_texts,
    send_text_model,
    write_text_model,
)
from imdb_sweep.tracking.runs import find_finished_run, job_run, run_tags
from imdb_sweep.tracking.spool import PROBE_TIMEOUT_SECONDS, RunSpool, send_spools, spool_root, sync_command
from imdb_sweep.tracking.store import TrackingError, TrackingTarget, bound_http_retries, connect, probe_server
from imdb_sweep.tracking.sweep_state import SweepState
from imdb_sweep.tracking.uris import is_server, store_files_folder
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
    trial_number: int | None = None  # the Optuna trial a search job answers (contract.JOB_TRIAL_KEY)

    @staticmethod
    def from_hydra() -> JobContext:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return JobContext()
        hydra_cfg = HydraConfig.get()
        overrides = list(hydra_cfg.overrides.task)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            return JobContext(overrides=overrides)
        trial = hydra_cfg.sweeper.get(contract.JOB_TRIAL_KEY.removeprefix("hydra.sweeper."))
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
        return distinguishing_overrides(self.overrides, self.sweep.swept_keys if self.sweep else None)

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


# The previous job's data, kept for the next job of the same process (PreviousLoad).
_previous_load = PreviousLoad()


def run_job(cfg: DictConfig, context: JobContext | None = None) -> dict[str, float]:
    """Train one configuration and record it as one MLflow run; return its final metrics."""
    job_started = time.perf_counter()
    context = context or JobContext()
    check_job_inputs(cfg)
    target, server_away = _connect(cfg, context)
    client = MlflowClient(target.uri)
    if not server_away:
        for run_id in reap_dead_runs(client, target.experiment_id, cfg.sweep.dead_after_seconds):
            print_flushed(f"Marked run {run_id} KILLED: its process is gone")

    print_flushed(context.label())
    link = context.trial_link()
    data_started = time.perf_counter()
    data = _previous_load.load(cfg.data)
    data_seconds = time.perf_counter() - data_started
    job_hash = config_hash(cfg, data.source_digest)

    if cfg.sweep.rerun == "missing" and not server_away:
        finished = find_finished_run(client, target.experiment_id, job_hash)
        if finished is not None:
            metrics = _answer_from_finished_run(client, finished, context, link)
            _register_single_run(cfg, context, target.uri, finished.info.run_id)
            return metrics
    checkpoints, resume = _checkpoints_and_resume(cfg, None if server_away else client, job_hash)

    try:
        timings = {contract.DATA_SECONDS: data_seconds, "job_started": job_started}
        trained_run_id, metrics = _train_in_run(cfg, context, target, client, data, job_hash, checkpoints, resume,
                                                link, timings=timings)
        if checkpoints is not None:
            checkpoints.remove()  # the run is FINISHED: nothing left to resume
    except Exception as error:
        print_job_failed(context, error)
        raise
    finally:
        if checkpoints is not None:
            checkpoints.release()
    pruned_at_epoch = metrics.get(contract.RETURNED_PRUNED_AT_EPOCH)
    pruned = f"pruned after epoch {int(pruned_at_epoch)}: " if pruned_at_epoch is not None else "done: "
    print_flushed(f"{context.label()} {pruned}{contract.BEST_VAL_ACCURACY}={metrics[contract.BEST_VAL_ACCURACY]:.4f} "
        f"(epoch {int(metrics[contract.BEST_EPOCH])}) {contract.TEST_ACCURACY}={metrics[contract.TEST_ACCURACY]:.4f} "
        f"run {trained_run_id or '(created once the tracking server answers)'}")
    if trained_run_id is not None:
        _register_single_run(cfg, context, target.uri, trained_run_id)
    return metrics


def _connect(cfg: DictConfig, context: JobContext) -> tuple[TrackingTarget, bool]:
    """The job's store, and whether its server is away. A job of a sweep knows its
    experiment from the sweep: it trains while the server is away, its run created
    once the server answers. A single run needs the server at its start (connect)."""
    sweep = context.sweep
    if sweep is not None and is_server(sweep.tracking_uri):
        bound_http_retries()
        if probe_server(sweep.tracking_uri, timeout=PROBE_TIMEOUT_SECONDS) is not None:
            mlflow.set_tracking_uri(sweep.tracking_uri)
            print_flushed(f"{context.label()}: the tracking server {sweep.tracking_uri} does not answer; the job "
                "trains anyway and its run is created when the server answers (meanwhile no earlier "
                "FINISHED run of this configuration is looked up and no checkpoint resumed)")
            return TrackingTarget(sweep.tracking_uri, sweep.experiment_id, cfg.tracking.experiment), True
    target = connect(cfg.tracking, cfg.sweep.connect_attempts, sweep_uri=sweep.tracking_uri if sweep else None)
    return target, False


def _send_at_job_end(cfg: DictConfig, context: JobContext, spool: RunSpool) -> None:
    """One more try to send what the job's spool kept. A job of a sweep leaves the rest
    to the sweep's end; a single run waits up to sweep.sync_wait_seconds, then fails
    saying where its writes are kept."""
    if spool.send_pending(wait_for_probe=True) == 0:
        spool.remove_if_sent()
        return
    if context.sweep is not None:
        print_flushed(f"{context.label()}: {spool.pending} write(s) kept in {spool.folder}, sent when the tracking "
            "server answers (at the latest at the sweep's end)")
        return
    if not send_spools([spool.folder], cfg.sweep.sync_wait_seconds, print_flushed):
        return
    raise TrackingError(
        f"the tracking server {spool.info.tracking_uri} did not answer within sweep.sync_wait_seconds = "
        f"{cfg.sweep.sync_wait_seconds}: the run's {spool.pending} last write(s) are kept in {spool.folder}; "
        f"send them with: {sync_command(spool.folder.parent)}")


def print_job_failed(context: JobContext, error: BaseException) -> None:
    """A job's failure, said at once: in a multirun Hydra reports failures only after the
    last job, and a search only tells its study that the trial failed."""
    print_flushed(f"{context.label()} FAILED: {type(error).__name__}: {error}", stream=sys.stderr)


def _register_single_run(cfg: DictConfig, context: JobContext, tracking_uri: str, run_id: str) -> None:
    """tracking.register on a single run: the run is its own winner. (In a sweep the
    callback registers the best run once every job has ended.)"""
    name = cfg.tracking.register
    if not name or context.sweep is not None:
        return
    from imdb_sweep.registry import register_run
    from imdb_sweep.report.runs import JobRun

    run = JobRun.from_mlflow(MlflowClient(tracking_uri).get_run(run_id))
    promote = OmegaConf.select(cfg, "tracking.promote", default="when_better")
    print_flushed(register_run(tracking_uri, run, name, configuration=context.label(), promote=promote).describe())


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
    print_flushed(f"{context.label()} skipped: FINISHED run {run_id} has this exact configuration "
        "(sweep.rerun=all trains it again)")
    return dict(finished.data.metrics)


def _checkpoints_and_resume(cfg: DictConfig, client: MlflowClient | None, job_hash: str,
                            ) -> tuple[CheckpointStore | None, CheckpointState | None]:
    """The configuration's checkpoint folder (None when switched off) and the
    checkpoint to resume from, if its run still exists and did not finish."""
    if not cfg.sweep.checkpoints:
        return None, None
    root = cfg.sweep.checkpoint_dir or store_files_folder(cfg.tracking.store_dir) / "checkpoints"
    checkpoints = CheckpointStore(Path(root).expanduser(), job_hash)
    if not checkpoints.claim():
        print_flushed(f"Another job is training this configuration ({job_hash}) right now: "
                      "this one keeps no checkpoints")
        return None, None
    if cfg.sweep.rerun == "all":
        checkpoints.remove()
        return checkpoints, None
    state = checkpoints.load_state()
    if state is None or client is None:  # no server to ask whether its run finished: start afresh
        return checkpoints, None
    try:
        run = client.get_run(state.run_id)
    except Exception:  # noqa: BLE001 - a run deleted or in another store: start afresh
        return checkpoints, None
    return checkpoints, (state if run.info.status != "FINISHED" else None)


def _train_in_run(cfg: DictConfig, context: JobContext, target: TrackingTarget, client: MlflowClient,
                  data: ImdbData, job_hash: str, checkpoints: CheckpointStore | None,
                  resume: CheckpointState | None, link: TrialLink | None,
                  timings: dict[str, float]) -> tuple[str | None, dict[str, float]]:
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
    spool = RunSpool.new(spool_root(cfg.tracking), target.uri, target.experiment_id, label=context.label(),
                         sweep_id=sweep.sweep_id if sweep else None,
                         max_megabytes=cfg.tracking.spool_max_megabytes, say=print_flushed)
    with job_run(spool, run_name, sweep.parent_run_id if sweep else None, job_tags,
                         resume_run_id=resume.run_id if resume else None), \
            PeriodicBeat(spool.beat, cfg.sweep.heartbeat_seconds, name="heartbeat"):
        if resume is None:
            _record_inputs(spool, cfg, context, data)
        else:
            _reopen_resumed_run(client, spool, resume, context)
        timer = EpochTimer()
        callbacks = [EpochMetricsLogger(spool, timer)]
        reporter = _trial_reporter(link, spool.run_id, cfg.train.epochs, resume)
        if reporter is not None:
            callbacks.append(reporter)
        with labelled_output(context.position()):
            result = train(cfg, data, callbacks=callbacks, checkpoints=checkpoints,
                           run_id=spool.run_id or "", resume=resume, epoch_timer=timer,
                           model_epoch_rule=_model_epoch_rule(link))
        # Whether the encoded reviews came from the cache explains data_seconds.
        metrics = {**result.summary_metrics(), contract.DATA_SECONDS: timings[contract.DATA_SECONDS],
                   contract.DATA_FROM_CACHE: float(data.from_cache)}
        spool.log_text(history_csv(result.history), "history.csv")
        pruned_at_epoch = reporter.pruned_at_epoch if reporter is not None else None
        if pruned_at_epoch is not None:
            spool.set_tags({contract.PRUNED_AT_EPOCH: str(pruned_at_epoch)})
        # A pruned run can never be the winner: its model is not worth logging.
        if cfg.tracking.log_model and pruned_at_epoch is None:
            # The weights of the epoch the ranking metric stands for, and their test numbers.
            metrics.update(choose_model_epoch(result, cfg, data).metrics())
            model_started = time.perf_counter()
            keras_model = portable_model(result.model)
            spool.log_files(send_text_model, lambda folder: write_text_model(
                folder, keras_model, data.vocabulary, cfg.data.num_words, cfg.data.maxlen,
                data_source=data.source, data_digest=data.source_digest))
            metrics[contract.MODEL_LOGGING_SECONDS] = time.perf_counter() - model_started
        metrics[contract.JOB_SECONDS] = time.perf_counter() - timings["job_started"]
        spool.log_metrics(metrics)
    _send_at_job_end(cfg, context, spool)
    if link is not None and spool.run_id is not None:
        link.record_run(spool.run_id)  # a run created after the job's start, by its spool
    if pruned_at_epoch is not None:
        metrics[contract.RETURNED_PRUNED_AT_EPOCH] = float(pruned_at_epoch)
    return spool.run_id, metrics


def _model_epoch_rule(link: TrialLink | None) -> EpochRule:
    """The epoch whose weights the run's model holds: the one the metric that ranks
    this job's runs stands for. A search ranks by its objective, in its direction; a
    grid or a single run by best_val_accuracy (report/table.py DEFAULT_RANKING_METRIC)."""
    from imdb_sweep.training.epoch_rule import BEST_VAL_ACCURACY

    return link.info.objective_metric.epoch_rule(link.info.direction) if link is not None else BEST_VAL_ACCURACY


def _trial_reporter(link: TrialLink | None, run_id: str | None, epochs: int,
                    resume: CheckpointState | None) -> keras.callbacks.Callback | None:
    """In a search, the callback that reports each epoch to the trial; a resumed
    run's earlier epochs are reported first."""
    if link is None:
        return None
    if run_id is not None:
        link.record_run(run_id)
    previous = resume.history.get(link.info.objective_metric.epoch_key, []) if resume else []
    link.report_epochs(previous)
    return link.callback(epochs, previous)


def _record_inputs(spool: RunSpool, cfg: DictConfig, context: JobContext, data: ImdbData) -> None:
    """A new run's params, datasets and config files."""
    spool.log_params(param_texts(flatten_config(cfg)))
    spool.log_inputs([dataset_input(data.x_train, data.y_train, data.location, data.digest, "training"),
                      dataset_input(data.x_test, data.y_test, data.location, data.digest, "test")])
    spool.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config/resolved_config.yaml")
    spool.log_text(OmegaConf.to_yaml(OmegaConf.create(context.overrides)), "config/overrides.yaml")


def _reopen_resumed_run(client: MlflowClient, spool: RunSpool, resume: CheckpointState, context: JobContext) -> None:
    """A resumed run: its old error cleared, the checkpoint's epochs it lacks logged."""
    if contract.ERROR in client.get_run(resume.run_id).data.tags:
        spool.delete_tag(contract.ERROR)
    restored = backfill_epochs(client, spool, resume.history, resume.epoch_seconds)
    print_flushed(f"{context.label()} resuming run {resume.run_id} after epoch {resume.epochs_done}"
        + (f" ({restored} epoch point(s) restored from the checkpoint)" if restored else ""))
