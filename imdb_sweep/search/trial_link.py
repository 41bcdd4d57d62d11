"""A job's side of a search: the Optuna trial it answers, told every epoch.

The search sweeper publishes where its study lives with the sweep's state
(tracking/sweep_state.py) and gives each job its trial number as the override
`++hydra.sweeper.trial=N` (contract.JOB_TRIAL_KEY). The job reports the
objective's value after every epoch (step = epoch, from 1) and asks the study's
pruner whether to go on; there is nothing to prune after the last epoch. The
sweeper tells the study how the trial ended from what the job returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imdb_sweep import contract
from imdb_sweep.search.objective import OBJECTIVES, ObjectiveMetric
from imdb_sweep.search.settings import build_pruner
from imdb_sweep.search.storage import open_storage
from imdb_sweep.search.trials import find_trial, live_trial

if TYPE_CHECKING:
    from imdb_sweep.search.reporter import TrialReporter


@dataclass(frozen=True)
class SearchInfo:
    """What a job needs to reach its study; published by the sweeper."""

    storage: str
    study_name: str
    objective: str
    direction: str
    pruner: dict[str, Any] | None  # the pruner's _target_ config; None: no pruning

    @staticmethod
    def from_mapping(values: Mapping[str, Any]) -> SearchInfo:
        return SearchInfo(**values)

    @property
    def objective_metric(self) -> ObjectiveMetric:
        return OBJECTIVES[self.objective]


class TrialLink:
    """The running trial a job answers."""

    def __init__(self, info: SearchInfo, trial_number: int):
        import optuna

        self.info = info
        self.number = trial_number
        study = optuna.load_study(study_name=info.study_name, storage=open_storage(info.storage),
                                  pruner=build_pruner(info.pruner))
        self.trial = live_trial(study, find_trial(study, trial_number))

    def record_run(self, run_id: str) -> None:
        self.trial.set_user_attr(contract.TRIAL_RUN_ID, run_id)

    def report_epochs(self, epoch_values: Sequence[float]) -> None:
        """Report epochs already trained (a reused or resumed run's) to the trial."""
        for epoch in range(1, len(epoch_values) + 1):
            self.trial.report(self.objective_after(epoch_values[:epoch]), step=epoch)

    def objective_after(self, epoch_values: Sequence[float]) -> float:
        return self.info.objective_metric.value_after(epoch_values, self.info.direction)

    def callback(self, epochs: int, previous_values: Sequence[float] = ()) -> TrialReporter:
        """The Keras callback that reports each epoch (Keras is imported only now,
        once the job has started TensorFlow its own way)."""
        from imdb_sweep.search.reporter import TrialReporter

        return TrialReporter(self.trial, self.info.objective_metric.epoch_key, self.objective_after,
                             epochs, previous_values)
