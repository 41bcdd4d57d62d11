"""`python -m imdb_sweep [-m] key=value ...`: one job per composed config."""

import sys

from imdb_sweep.config.location import config_dir
from imdb_sweep.process.memory import garbage_collection_paused
from imdb_sweep.process.process_wide import start_process

with garbage_collection_paused():  # Hydra and MLflow: a second of imports
    import hydra
    from omegaconf import DictConfig

    from hydra_plugins.imdb_sweep_optuna.optuna_sweeper import register as register_optuna_sweeper
    from hydra_plugins.imdb_sweep_seeds.adaptive_seeds_sweeper import register as register_adaptive_seeds_sweeper
    from imdb_sweep import contract
    from imdb_sweep.config.schema import register_schemas
    from imdb_sweep.config.validation import ConfigError
    from imdb_sweep.data.source import DataError
    from imdb_sweep.job import JobContext, print_job_failed, run_job
    from imdb_sweep.sweep.ray_preset import register_ray_launcher_preset
    from imdb_sweep.tracking.store import TrackingError

register_ray_launcher_preset()
register_optuna_sweeper()
register_adaptive_seeds_sweeper()
register_schemas()


# An absolute path: Hydra resolves a relative one against the calling module,
# which differs between `python -m imdb_sweep` and an import of `main`.
CONFIG_DIR = str(config_dir())


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float]:
    """One job. What it returns is for a search sweeper: the validation metrics a
    search may optimize, and whether the pruner stopped it; never the test set."""
    context = JobContext.from_hydra()
    try:
        metrics = run_job(cfg, context)
    except (ConfigError, DataError, TrackingError) as error:
        if context.sweep is not None:
            # Bad input found by the job itself (a custom_search_space's value, data gone
            # since the sweep's checks): said as a training error is; the sweep records the job failed.
            print_job_failed(context, error)
            raise
        # A single job's bad input (or unreachable store): the message says it all;
        # Hydra would wrap it in a traceback.
        print(f"Error: {error}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    returned = (*contract.OBJECTIVE_METRICS, contract.RETURNED_PRUNED_AT_EPOCH)
    return {name: metrics[name] for name in returned if name in metrics}


if __name__ == "__main__":
    start_process()
    try:
        main()
    except KeyboardInterrupt as interrupt:
        # Runs are already marked KILLED; atexit ends the sweep's parent run.
        print(f"Interrupted ({interrupt or 'Ctrl-C'}); rerun the same command to resume.",
              file=sys.stderr, flush=True)
        sys.exit(130)
