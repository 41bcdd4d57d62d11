"""The names separate processes and later readers rely on, spelled once, with their meaning.

A job, a sweep or search worker, the report and the model registry run in
different processes, at different times, often years apart on one MLflow store
or Optuna study. What one writes the others read by name: the MLflow tags and
metrics below, the user attributes of Optuna's studies and trials, the
objectives and the direction each goes. Every value here is stored: changing
one leaves existing stores and studies unreadable, so a new name gets a new
value and an old one keeps its own.

Bottom layer: nothing here imports anything of the package.
A search's settings on its parent run travel as one typed record, SearchRecord.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# MLflow tags on our runs
# ---------------------------------------------------------------------------

SWEEP_ID = "imdb_sweep.sweep_id"
ROLE = "imdb_sweep.role"  # "sweep" on parent runs, "job" on job runs
OVERRIDES = "imdb_sweep.overrides"
CONFIG_HASH = "config_hash"  # what a sweep matches an earlier FINISHED run on (config/identity.py)
DATA_DIGEST = "imdb_sweep.data_digest"
ERROR = "imdb_sweep.error"
# The process that runs a run (and asked a trial: the same names are trial attributes).
HOST = "imdb_sweep.host"
PID = "imdb_sweep.pid"
PROCESS_START = "imdb_sweep.process_start"
HEARTBEAT = "imdb_sweep.heartbeat"
# On a parent run, one tag per job that reused an earlier FINISHED run:
# `imdb_sweep.reused.<job number>` = that run's id (reused_tag, job_number).
REUSED_PREFIX = "imdb_sweep.reused."
RESUMED_AT_EPOCH = "imdb_sweep.resumed_at_epoch"
# On a job run created by its spool (tracking/spool.py): the spool folder's name, which
# finds the run again when the answer to its creation was lost.
SPOOL_ID = "imdb_sweep.spool_id"
# On a job run that a search stopped early (its epoch): never a sweep's winner.
PRUNED_AT_EPOCH = "imdb_sweep.pruned_at_epoch"
# MLflow's own tags, which we set and read.
GIT_COMMIT = "mlflow.source.git.commit"
PARENT_RUN_ID = "mlflow.parentRunId"
# On a search's job runs: the Optuna trial number the job ran (0-based, unique in its study).
TRIAL_NUMBER = "imdb_sweep.trial_number"
# On a search's parent run: what the search optimizes and how (imdb_sweep/search/).
SEARCH_OBJECTIVE = "imdb_sweep.search.objective"  # one of OBJECTIVE_METRICS
SEARCH_DIRECTION = "imdb_sweep.search.direction"  # one of DIRECTIONS
SEARCH_SAMPLER = "imdb_sweep.search.sampler"
SEARCH_PRUNER = "imdb_sweep.search.pruner"
SEARCH_STUDY = "imdb_sweep.search.study_name"
SEARCH_STORAGE = "imdb_sweep.search.storage"
# "true" when the sampler tried every configuration of the space (a grid search's end).
SEARCH_EXHAUSTED = "imdb_sweep.search.exhausted"
# The parent's artifact holding the search space: {key: Optuna distribution JSON}.
SEARCH_SPACE_ARTIFACT = "search/space.json"
# A grid with adaptive seeds (hydra/sweeper=adaptive_seeds): its stopping rule, on the
# parent run, which the report reads back; the rounds and each configuration's seeds in an artifact.
SEED_RULE_MIN_SEEDS = "imdb_sweep.seed_rule.min_seeds"
SEED_RULE_MAX_SEEDS = "imdb_sweep.seed_rule.max_seeds"
SEED_RULE_HALF_WIDTH = "imdb_sweep.seed_rule.half_width"  # accuracy (0.005 = half a point)
SEED_RULE_METRIC = "imdb_sweep.seed_rule.metric"
SEED_RULE_CONFIDENCE = "imdb_sweep.seed_rule.confidence"  # overall, spent over the looks
SEED_RULE_ROUNDS = "imdb_sweep.seed_rule.rounds"
SEED_RULE_OUTCOME = "imdb_sweep.seed_rule.outcome"  # settled, or capped (some effects still unsettled)
SEED_ROUNDS_ARTIFACT = "seeds/rounds.json"

# On a sweep's parent run, set when its report is published (sweep/publishing.py);
# a search's optimization_results.yaml names its best trial and run the same way.
BEST_RUN_ID = "best_run_id"
RANKED_BY = "ranked_by"  # the metric that chose best_run_id (also a registered version's tag)
BEST_CONFIGURATION = "best_configuration"  # when seeds repeat: the best configuration's label
BEST_TRIAL_NUMBER = "best_trial_number"  # a search's: the trial number of best_run_id

# ---------------------------------------------------------------------------
# The model registry (registry.py)
# ---------------------------------------------------------------------------

CHAMPION_ALIAS = "champion"  # `models:/<name>@champion`: the version that beat every champion before it
CHALLENGER_ALIAS = "challenger"  # the latest version registered that did not beat the champion
LOGGED_MODEL_NAME = "model"  # the name each job logs its text model under (tracking/records.py)
# Tags of a registered version: where it came from (beside RANKED_BY and the metrics' values).
VERSION_SWEEP_ID = "sweep_id"
VERSION_RUN_ID = "run_id"
VERSION_CONFIGURATION = "configuration"
VERSION_LOGGED_MODEL_ID = "logged_model_id"
# The ranking metric of each seed of the version's configuration, space-separated (seeds only):
# what a later version must beat significantly to become champion.
VERSION_SEED_VALUES = "seed_values"

# ---------------------------------------------------------------------------
# MLflow metrics of a job run
# ---------------------------------------------------------------------------

# Per epoch (step = epoch, from 1): Keras's names for the compiled metric and loss
# (training/model.py names the metric "accuracy"), and the epoch's time.
ACCURACY = "accuracy"
LOSS = "loss"
VAL_ACCURACY = "val_accuracy"
VAL_LOSS = "val_loss"
EPOCH_SECONDS = "epoch_seconds"
# Once per run (training/fit.py TrainingResult.summary_metrics).
TEST_LOSS = "test_loss"
TEST_ACCURACY = "test_accuracy"  # after the last epoch, as the seed's script measures it
BEST_VAL_ACCURACY = "best_val_accuracy"
BEST_EPOCH = "best_epoch"  # 1-based epoch of best_val_accuracy
FINAL_VAL_ACCURACY = "final_val_accuracy"
BEST_VAL_LOSS = "best_val_loss"
FINAL_VAL_LOSS = "final_val_loss"
EPOCHS_TRAINED = "epochs_trained"
TRAIN_SECONDS = "train_seconds"
EVALUATE_SECONDS = "evaluate_seconds"
# The logged model's (training/fit.py ChosenModel): the epoch whose weights it holds
# and their test numbers; runs logged before these existed lack them.
MODEL_EPOCH = "model_epoch"
MODEL_TEST_ACCURACY = "model_test_accuracy"
MODEL_TEST_LOSS = "model_test_loss"
MODEL_EVALUATE_SECONDS = "model_evaluate_seconds"
# The job's own (job.py).
DATA_SECONDS = "data_seconds"
DATA_FROM_CACHE = "data_from_cache"  # 1.0 when the encoded reviews came from the cache
MODEL_LOGGING_SECONDS = "model_logging_seconds"
JOB_SECONDS = "job_seconds"

# Every metric a job run logs.
JOB_METRICS = (
    ACCURACY, LOSS, VAL_ACCURACY, VAL_LOSS, EPOCH_SECONDS,
    TEST_LOSS, TEST_ACCURACY, BEST_VAL_ACCURACY, BEST_EPOCH, FINAL_VAL_ACCURACY, BEST_VAL_LOSS, FINAL_VAL_LOSS,
    EPOCHS_TRAINED, TRAIN_SECONDS, EVALUATE_SECONDS,
    MODEL_EPOCH, MODEL_TEST_ACCURACY, MODEL_TEST_LOSS, MODEL_EVALUATE_SECONDS,
    DATA_SECONDS, DATA_FROM_CACHE, MODEL_LOGGING_SECONDS, JOB_SECONDS,
)
# Metrics that count whole epochs (MLflow stores every metric as a float).
EPOCH_COUNT_METRICS = (BEST_EPOCH, MODEL_EPOCH, EPOCHS_TRAINED)

# The key of the metrics a job returns to its sweeper (never logged: the run has the
# tag PRUNED_AT_EPOCH instead) when a search's pruner stopped it: the epoch.
RETURNED_PRUNED_AT_EPOCH = "pruned_at_epoch"

# ---------------------------------------------------------------------------
# Directions: which way each metric is better
# ---------------------------------------------------------------------------

MAXIMIZE = "maximize"
MINIMIZE = "minimize"
DIRECTIONS = (MAXIMIZE, MINIMIZE)

# Every metric of ours that has a better side. A metric not here (one logged by
# something else, or an epoch count) ranks higher-first: direction_of.
METRIC_DIRECTIONS = {
    BEST_VAL_ACCURACY: MAXIMIZE, FINAL_VAL_ACCURACY: MAXIMIZE, BEST_VAL_LOSS: MINIMIZE, FINAL_VAL_LOSS: MINIMIZE,
    ACCURACY: MAXIMIZE, LOSS: MINIMIZE, VAL_ACCURACY: MAXIMIZE, VAL_LOSS: MINIMIZE,
    TEST_ACCURACY: MAXIMIZE, TEST_LOSS: MINIMIZE, MODEL_TEST_ACCURACY: MAXIMIZE, MODEL_TEST_LOSS: MINIMIZE,
    EPOCH_SECONDS: MINIMIZE, TRAIN_SECONDS: MINIMIZE, EVALUATE_SECONDS: MINIMIZE, MODEL_EVALUATE_SECONDS: MINIMIZE,
    DATA_SECONDS: MINIMIZE, MODEL_LOGGING_SECONDS: MINIMIZE, JOB_SECONDS: MINIMIZE,
}
# What a search may optimize, each in its METRIC_DIRECTIONS direction: validation
# metrics every job logs (the test set is reported, never optimized).
OBJECTIVE_METRICS = (BEST_VAL_ACCURACY, FINAL_VAL_ACCURACY, BEST_VAL_LOSS, FINAL_VAL_LOSS)
DEFAULT_OBJECTIVE = BEST_VAL_ACCURACY


def direction_of(metric: str) -> str:
    """The way `metric` is better: METRIC_DIRECTIONS, else maximize."""
    return METRIC_DIRECTIONS.get(metric, MAXIMIZE)


# ---------------------------------------------------------------------------
# Optuna: user attributes of a search's trials and study (search/trials.py)
# ---------------------------------------------------------------------------

# Every trial we ask also carries its worker's HOST, PID, PROCESS_START, HEARTBEAT.
# A FAILED trial whose worker died: not counted; its configuration is asked again.
TRIAL_LOST_WORKER = "imdb_sweep.lost_worker"
# A trial asked beyond n_trials by a worker that raced another: told FAIL, not counted.
TRIAL_SURPLUS = "imdb_sweep.surplus"
# On a trial added from an earlier FINISHED run (hydra.sweeper.warm_start): that run's
# id. Not trained, not counted in n_trials.
TRIAL_WARM_START = "imdb_sweep.warm_start"
# On a trial enqueued to retry a lost one: the lost trial's number.
TRIAL_RETRY_OF = "imdb_sweep.retry_of"
# The MLflow run that answered the trial (a new run, or a FINISHED one reused).
TRIAL_RUN_ID = "imdb_sweep.run_id"
# The search's MLflow parent run and sweep id, set by the worker that created the study.
STUDY_PARENT_RUN_ID = "imdb_sweep.parent_run_id"
STUDY_SWEEP_ID = "imdb_sweep.sweep_id"
# What defines the search (search/definition.py, JSON), set by the worker that created
# the study: a worker joins with the storage and the study name alone.
STUDY_DEFINITION = "imdb_sweep.definition"
# The parent run id of the search's end, once a worker has ended it (so no other
# worker ends it again); emptied when the parent runs again.
STUDY_ENDED = "imdb_sweep.ended"
# The sampler asked the study to stop (GridSampler, BruteForceSampler: every point
# of the space tried); no trial is asked after it.
STUDY_EXHAUSTED = "imdb_sweep.exhausted"

# ---------------------------------------------------------------------------
# Trial numbers and job numbers
# ---------------------------------------------------------------------------

# The key by which the search sweeper tells each job the trial it answers, in the
# job's overrides (`++hydra.sweeper.trial=7`): under Hydra's own node, so no part
# of the job's config, its params or its config_hash, and carried to the job by
# every launcher, since each composes its jobs from their overrides.
JOB_TRIAL_KEY = "hydra.sweeper.trial"

# Optuna numbers trials from 0 and Hydra its jobs from 0 (hydra.job.num); people,
# console lines and the REUSED_PREFIX tags count jobs from 1.


def job_number(index: int) -> int:
    """The 1-based job number of the 0-based trial number or Hydra job index."""
    return index + 1


def job_index(number: int) -> int:
    """The 0-based trial number or Hydra job index of the 1-based job number."""
    return number - 1


def reused_tag(number: int | str) -> str:
    """The parent's tag naming the run that job `number` reused."""
    return f"{REUSED_PREFIX}{number}"


# ---------------------------------------------------------------------------
# A search's record on its parent run
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRecord:
    """What a search optimizes and how, as its sweeper writes it on the parent run
    (search/study.py) and the report reads it back (report/search.py): one shape for
    both, through `to_tags` and `from_tags`. The jobs reach the study through the
    sweep's state instead (search/trial_link.py SearchInfo: the storage's URL with
    its password, the pruner's config), which never goes to MLflow."""

    objective: str  # one of OBJECTIVE_METRICS
    direction: str  # one of DIRECTIONS
    sampler: str | None = None  # tpe, random, ...; None on a parent that did not record it
    pruner: str | None = None  # `asha(min_resource=1, reduction_factor=3)`, `none`
    study_name: str | None = None
    storage: str | None = None  # as shown: a database URL without its password

    @property
    def minimize(self) -> bool:
        return self.direction == MINIMIZE

    def describe(self) -> str:
        """`best_val_accuracy (maximize), sampler tpe, pruner asha`."""
        parts = [f"{self.objective} ({self.direction})"]
        parts += [f"{name} {value}" for name, value in (("sampler", self.sampler), ("pruner", self.pruner))
                  if value]
        return ", ".join(parts)

    def to_tags(self) -> dict[str, str]:
        values = {SEARCH_OBJECTIVE: self.objective, SEARCH_DIRECTION: self.direction, SEARCH_SAMPLER: self.sampler,
                  SEARCH_PRUNER: self.pruner, SEARCH_STUDY: self.study_name, SEARCH_STORAGE: self.storage}
        return {tag: value for tag, value in values.items() if value is not None}

    @staticmethod
    def from_tags(tags: Mapping[str, str], run_id: str) -> SearchRecord | None:
        """The record on the parent run `run_id`, None when it is a grid's (no objective);
        ValueError when its direction is none of DIRECTIONS (an older parent without
        one maximized)."""
        objective = tags.get(SEARCH_OBJECTIVE)
        if not objective:
            return None
        direction = tags.get(SEARCH_DIRECTION, MAXIMIZE).strip().lower()
        if direction not in DIRECTIONS:
            raise ValueError(f"the parent run {run_id} has tag {SEARCH_DIRECTION}={direction!r}: expected one of "
                             f"{', '.join(DIRECTIONS)}")
        return SearchRecord(objective, direction, tags.get(SEARCH_SAMPLER), tags.get(SEARCH_PRUNER),
                            tags.get(SEARCH_STUDY), tags.get(SEARCH_STORAGE))
