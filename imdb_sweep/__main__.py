"""`python -m imdb_sweep [-m] key=value ...`: one job per composed config."""

import atexit
import gc
import sys

from imdb_sweep.config_files import config_dir
from imdb_sweep.runtime import garbage_collection_paused

with garbage_collection_paused():  # Hydra and MLflow: a second of imports
    import hydra
    from omegaconf import DictConfig

    from imdb_sweep.interrupts import install_handlers
    from imdb_sweep.job import JobContext, run_job
    from imdb_sweep.ray_preset import register_ray_launcher_preset

register_ray_launcher_preset()


# An absolute path: Hydra resolves a relative one against the calling module,
# which differs between `python -m imdb_sweep` and an import of `main`.
CONFIG_DIR = str(config_dir())


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    # The returned test accuracy lets optimizing sweepers (e.g. Optuna) use it.
    return run_job(cfg, JobContext.from_hydra())["test_accuracy"]


if __name__ == "__main__":
    # Registered first, so it runs after every other exit handler (MLflow's, the
    # sweep's): with everything frozen, the interpreter's final garbage
    # collection skips TensorFlow's object graph, about a second per process.
    atexit.register(gc.freeze)
    install_handlers()
    try:
        main()
    except KeyboardInterrupt as interrupt:
        # Runs are already marked KILLED; atexit ends the sweep's parent run.
        print(f"Interrupted ({interrupt or 'Ctrl-C'}); rerun the same command to resume.",
              file=sys.stderr, flush=True)
        sys.exit(130)
