"""`python -m imdb_sweep [-m] key=value ...`: one job per composed config."""

import hydra
from omegaconf import DictConfig

from imdb_sweep.job import JobContext, run_job


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    # The returned test accuracy lets optimizing sweepers (e.g. Optuna) use it.
    return run_job(cfg, JobContext.from_hydra())["test_accuracy"]


if __name__ == "__main__":
    main()
