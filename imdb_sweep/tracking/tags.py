"""Names of the MLflow tags imdb_sweep writes (one place, so readers and writers agree)."""

SWEEP_ID = "imdb_sweep.sweep_id"
ROLE = "imdb_sweep.role"  # "sweep" on parent runs, "job" on job runs
OVERRIDES = "imdb_sweep.overrides"
CONFIG_HASH = "config_hash"
DATA_DIGEST = "imdb_sweep.data_digest"
ERROR = "imdb_sweep.error"
HOST = "imdb_sweep.host"
PID = "imdb_sweep.pid"
PROCESS_START = "imdb_sweep.process_start"
HEARTBEAT = "imdb_sweep.heartbeat"
# On a parent run, one tag per job that reused an earlier FINISHED run:
# `imdb_sweep.reused.<job number>` = that run's id.
REUSED_PREFIX = "imdb_sweep.reused."
RESUMED_AT_EPOCH = "imdb_sweep.resumed_at_epoch"
# On a job run that a search stopped early (its epoch): never a sweep's winner.
PRUNED_AT_EPOCH = "imdb_sweep.pruned_at_epoch"
GIT_COMMIT = "mlflow.source.git.commit"
PARENT_RUN_ID = "mlflow.parentRunId"
# On a search's job runs: the Optuna trial number the job ran (0-based, unique in its study).
TRIAL_NUMBER = "imdb_sweep.trial_number"
# On a search's parent run: what the search optimizes and how (imdb_sweep/search/).
SEARCH_OBJECTIVE = "imdb_sweep.search.objective"  # a summary metric every job logs: best_val_accuracy
SEARCH_DIRECTION = "imdb_sweep.search.direction"  # maximize | minimize
SEARCH_SAMPLER = "imdb_sweep.search.sampler"
SEARCH_PRUNER = "imdb_sweep.search.pruner"
SEARCH_STUDY = "imdb_sweep.search.study_name"
SEARCH_STORAGE = "imdb_sweep.search.storage"
# "true" when the sampler tried every configuration of the space (a grid search's end).
SEARCH_EXHAUSTED = "imdb_sweep.search.exhausted"
# The parent's artifact holding the search space: {key: Optuna distribution JSON}.
SEARCH_SPACE_ARTIFACT = "search/space.json"
