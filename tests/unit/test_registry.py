"""Registering a sweep's winner: which run, which version, which alias and tags, which
names; on runs written straight into a store (the logged models are entries without
files: registering reads only their ids). Serving a registered model: tests/e2e/test_serving.py."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from imdb_sweep import contract
from imdb_sweep.config.validation import ConfigError, validate_config
from imdb_sweep.job import run_job
from imdb_sweep.registry import champion_decision, register_best_run, register_sweep_winner
from imdb_sweep.report import build_table, select_runs
from imdb_sweep.report.__main__ import main as report_main
from tests.helpers.report_runs import EXPERIMENT, FakeSweeps, job_params

MODEL = "imdb-sentiment"


class SweepsWithModels(FakeSweeps):
    def job(self, *args, logged_model: bool = True, pruned_at_epoch: int | None = None,
            model_numbers: bool = True, **kwargs) -> str:
        """A job run with its logged model and, unless `model_numbers` is false (as runs
        logged before them), that model's epoch and test accuracy."""
        run_id = super().job(*args, **kwargs)
        if logged_model:
            self.client.create_logged_model(self.experiment_id, name="model", source_run_id=run_id)
            test_accuracy = self.client.get_run(run_id).data.metrics.get("test_accuracy")
            if model_numbers and test_accuracy is not None:
                self.client.log_metric(run_id, "model_epoch", 2.0)
                self.client.log_metric(run_id, "model_test_accuracy", test_accuracy + 0.005)
        if pruned_at_epoch is not None:
            self.client.set_tag(run_id, contract.PRUNED_AT_EPOCH, str(pruned_at_epoch))
        return run_id


@pytest.fixture()
def store(tmp_path: Path) -> SweepsWithModels:
    return SweepsWithModels(tmp_path / "store")


def sweep_with_traps(store: SweepsWithModels, sweep_id: str = "s1") -> tuple[str, dict[str, str]]:
    """A sweep whose best validation accuracy belongs to runs that must never win:
    a failed, a killed and a pruned one; and whose best test accuracy is not the winner's."""
    parent = store.sweep(sweep_id)
    runs = {
        "winner": store.job(parent, job_params("64", 0), 0.84, sweep_id=sweep_id, validation_accuracy=0.88),
        "test_best": store.job(parent, job_params("32", 0), 0.86, sweep_id=sweep_id, validation_accuracy=0.85),
        "failed": store.job(parent, job_params("128", 0), 0.90, status="FAILED", sweep_id=sweep_id,
                            validation_accuracy=0.95),
        "killed": store.job(parent, job_params("256", 0), 0.90, status="KILLED", sweep_id=sweep_id,
                            validation_accuracy=0.96),
        "pruned": store.job(parent, job_params("512", 0), 0.91, sweep_id=sweep_id, validation_accuracy=0.97,
                            pruned_at_epoch=2),
    }
    return parent, runs


def test_the_best_finished_unpruned_run_on_validation_becomes_the_champion(store):
    parent, runs = sweep_with_traps(store)
    registration = register_sweep_winner(store.uri, store.experiment_id, parent, MODEL)
    assert registration.run_id == runs["winner"]
    assert registration.version == "1" and registration.new_version

    client = MlflowClient(store.uri)
    champion = client.get_model_version_by_alias(MODEL, contract.CHAMPION_ALIAS)
    assert str(champion.version) == "1" and champion.run_id == runs["winner"]
    (logged,) = client.search_logged_models([store.experiment_id],
                                            filter_string=f"source_run_id = '{runs['winner']}'")
    assert champion.source == logged.artifact_location
    assert champion.tags == {
        "sweep_id": "s1", "run_id": runs["winner"], "configuration": "variant=units64, units=64",
        "logged_model_id": logged.model_id, "ranked_by": "best_val_accuracy", "best_val_accuracy": "0.880000",
        "model_epoch": "2", "model_test_accuracy": "0.845000", "test_accuracy": "0.840000",
    }
    # The served model's numbers: its epoch and test accuracy, not the last epoch's.
    assert registration.describe() == (
        f"Registered run {runs['winner']} (variant=units64, units=64; best_val_accuracy=0.880000, model_epoch=2, "
        f"model_test_accuracy=0.845000) as version 1 of model '{MODEL}', alias champion: models:/{MODEL}@champion "
        "(the first champion)")


def test_a_run_logged_before_the_model_numbers_registers_with_its_test_accuracy(store):
    parent = store.sweep("old")
    run_id = store.job(parent, job_params("64", 0), 0.84, sweep_id="old", validation_accuracy=0.88,
                       model_numbers=False)
    registration = register_sweep_winner(store.uri, store.experiment_id, parent, MODEL)
    assert registration.run_id == run_id
    assert "model_epoch" not in registration.tags and "model_test_accuracy" not in registration.tags
    assert "; best_val_accuracy=0.880000, test_accuracy=0.840000) as version 1" in registration.describe()


def test_a_later_sweep_adds_a_version_and_moves_the_alias_registering_again_does_not(store):
    first, _ = sweep_with_traps(store, "s1")
    register_sweep_winner(store.uri, store.experiment_id, first, MODEL)
    second = store.sweep("s2")
    better = store.job(second, job_params("16", 1), 0.80, sweep_id="s2", validation_accuracy=0.90)
    store.job(second, job_params("8", 1), 0.70, sweep_id="s2", validation_accuracy=0.70)

    registration = register_sweep_winner(store.uri, store.experiment_id, second, MODEL)
    assert (registration.version, registration.run_id, registration.new_version) == ("2", better, True)
    again = register_sweep_winner(store.uri, store.experiment_id, second, MODEL)
    assert (again.version, again.new_version) == ("2", False)
    client = MlflowClient(store.uri)
    assert str(client.get_model_version_by_alias(MODEL, contract.CHAMPION_ALIAS).version) == "2"
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2


def test_the_report_registers_on_demand_and_explains_what_it_cannot(store, monkeypatch, capsys):
    parent, runs = sweep_with_traps(store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    assert report_main(["--register", MODEL, "--format", "csv"]) == 0
    assert f"Registered run {runs['winner']}" in capsys.readouterr().err
    assert MlflowClient(store.uri).get_model_version_by_alias(MODEL, contract.CHAMPION_ALIAS).run_id == runs["winner"]

    assert report_main(["--register", "bad/name"]) == 2
    assert "--register = 'bad/name' is not allowed" in capsys.readouterr().err

    no_model = store.sweep("s3")
    store.job(no_model, job_params("16", 0), 0.8, sweep_id="s3", logged_model=False)
    assert report_main(["--sweep", "s3", "--register", MODEL]) == 2
    assert "logged no model to register" in capsys.readouterr().err

    only_failures = store.sweep("s4")
    store.job(only_failures, job_params("16", 0), 0.8, status="FAILED", sweep_id="s4")
    assert report_main(["--sweep", "s4", "--register", MODEL]) == 2
    assert "can be registered: none FINISHED" in capsys.readouterr().err


def test_the_parent_run_and_the_registry_agree_on_the_best_run(store):
    from imdb_sweep.sweep.publishing import publish_sweep_report

    parent, runs = sweep_with_traps(store)
    publish_sweep_report(store.uri, store.experiment_id, parent)
    assert MlflowClient(store.uri).get_run(parent).data.tags["best_run_id"] == runs["winner"]
    table = build_table(select_runs(store.uri, EXPERIMENT, "s1"))
    assert register_best_run(table, MODEL).run_id == runs["winner"]


@pytest.mark.parametrize("name", ["imdb-sentiment", "team.imdb_v2", "A"])
def test_good_model_names_pass_validation(compose_config, name):
    validate_config(compose_config(f"tracking.register={name}"))


@pytest.mark.parametrize("name", ["has space", "a/b", "x:y", "m@champion", "-leading", "x" * 257])
def test_bad_model_names_fail_before_anything_trains(compose_config, name):
    with pytest.raises(ConfigError, match="tracking.register = .* is not allowed: expected null or a model name"):
        validate_config(compose_config(f"tracking.register='{name}'"))


def test_registering_needs_the_logged_model(compose_config):
    with pytest.raises(ConfigError, match="tracking.register = 'm' is not allowed with tracking.log_model = false"):
        validate_config(compose_config("tracking.register=m", "tracking.log_model=false"))


def test_a_single_run_with_register_registers_itself(tiny_config):
    cfg = tiny_config("tracking.log_model=true", "tracking.register=single")
    run_job(cfg)
    client = MlflowClient(f"sqlite:///{cfg.tracking.store_dir}/mlflow.db")
    champion = client.get_model_version_by_alias("single", contract.CHAMPION_ALIAS)
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert champion.run_id == run.info.run_id and "sweep_id" not in champion.tags
    assert champion.tags["model_epoch"] == f"{run.data.metrics['model_epoch']:.0f}"
    assert champion.tags["model_test_accuracy"] == f"{run.data.metrics['model_test_accuracy']:.6f}"
    run_job(cfg)  # answered by the FINISHED run: the same version stays the champion
    assert len(client.search_model_versions("name = 'single'")) == 1


def seeded_sweep(store: SweepsWithModels, sweep_id: str, units: str, validation: list[float]) -> str:
    """A sweep of one configuration over seeds, with these validation accuracies."""
    parent = store.sweep(sweep_id)
    for seed, value in enumerate(validation):
        store.job(parent, job_params(units, seed), 0.8, sweep_id=sweep_id, validation_accuracy=value)
    return parent


def aliases(store: SweepsWithModels) -> dict[str, str]:
    registered = MlflowClient(store.uri).get_registered_model(MODEL)
    return {alias: str(version) for alias, version in registered.aliases.items()}


def test_a_worse_single_run_becomes_the_challenger_and_says_why(store):
    first = store.sweep("s1")
    store.job(first, job_params("64", 0), 0.84, sweep_id="s1", validation_accuracy=0.88)
    register_sweep_winner(store.uri, store.experiment_id, first, MODEL)
    second = store.sweep("s2")
    store.job(second, job_params("16", 0), 0.86, sweep_id="s2", validation_accuracy=0.87)

    registration = register_sweep_winner(store.uri, store.experiment_id, second, MODEL)
    assert (registration.version, registration.alias) == ("2", "challenger")
    assert aliases(store) == {"champion": "1", "challenger": "2"}
    assert registration.describe().endswith(
        f"alias challenger: models:/{MODEL}@challenger (best_val_accuracy 0.8700 does not beat "
        "champion version 1's best_val_accuracy 0.8800)")
    assert "\n" not in registration.describe()

    always = register_sweep_winner(store.uri, store.experiment_id, second, MODEL, promote="always")
    assert (always.version, always.alias, always.reason) == ("2", "champion", "tracking.promote=always")
    assert aliases(store)["champion"] == "2"


def test_with_seeds_on_both_sides_the_champion_moves_only_on_a_significant_win(store):
    champion_values = [0.860, 0.866, 0.863, 0.858]
    register_sweep_winner(store.uri, store.experiment_id, seeded_sweep(store, "s1", "32", champion_values), MODEL)
    assert MlflowClient(store.uri).get_model_version(MODEL, "1").tags["seed_values"] == (
        "0.860000 0.866000 0.863000 0.858000")

    # Its best seed (0.870) beats every champion seed, but the mean is no clear win.
    lucky = [0.870, 0.855, 0.861, 0.864]
    registration = register_sweep_winner(store.uri, store.experiment_id, seeded_sweep(store, "s2", "64", lucky),
                                         MODEL)
    p_value = stats.ttest_ind(lucky, champion_values, equal_var=False, alternative="greater").pvalue
    assert registration.alias == "challenger" and p_value > 0.05
    assert registration.reason == (
        f"mean best_val_accuracy {fmean(lucky):.4f} over 4 seeds does not significantly beat champion version 1's "
        f"mean best_val_accuracy {fmean(champion_values):.4f} over 4 seeds (one-sided Welch p={p_value:.3g}, "
        "needs < 0.05)")

    clear = [0.872, 0.875, 0.869, 0.874]
    registration = register_sweep_winner(store.uri, store.experiment_id, seeded_sweep(store, "s3", "16", clear),
                                         MODEL)
    p_value = stats.ttest_ind(clear, champion_values, equal_var=False, alternative="greater").pvalue
    assert registration.alias == "champion" and p_value < 0.05
    assert registration.reason == (f"mean best_val_accuracy {fmean(clear):.4f} over 4 seeds beats champion version "
                                   f"1's mean best_val_accuracy {fmean(champion_values):.4f} over 4 seeds "
                                   f"(one-sided Welch p={p_value:.3g})")
    assert aliases(store) == {"champion": "3", "challenger": "2"}


def test_the_decision_follows_the_metrics_direction():
    assert champion_decision([0.30], [0.35], "4", "best_val_loss", minimize=True).promote
    assert not champion_decision([0.35], [0.30], "4", "best_val_loss", minimize=True).promote
    assert not champion_decision([0.88], [0.88], "4", "best_val_accuracy").promote  # a tie keeps the champion
    first = champion_decision([0.88], [], "4", "best_val_accuracy")
    assert first.promote and first.reason == "champion version 4 has no best_val_accuracy to compare with"


def test_the_report_cli_promotes_as_told(store, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    first = store.sweep("s1")
    store.job(first, job_params("64", 0), 0.84, sweep_id="s1", validation_accuracy=0.88)
    assert report_main(["--sweep", "s1", "--register", MODEL]) == 0
    second = store.sweep("s2")
    store.job(second, job_params("16", 0), 0.86, sweep_id="s2", validation_accuracy=0.85)
    capsys.readouterr()
    assert report_main(["--sweep", "s2", "--register", MODEL, "--format", "csv"]) == 0
    assert "alias challenger" in capsys.readouterr().err
    assert report_main(["--sweep", "s2", "--register", MODEL, "--promote", "always", "--format", "csv"]) == 0
    assert "alias champion" in capsys.readouterr().err and aliases(store)["champion"] == "2"


def test_a_bad_promote_setting_fails_before_anything_trains(compose_config):
    validate_config(compose_config("tracking.promote=always"))
    with pytest.raises(ConfigError, match="tracking.promote = 'sometimes' is not allowed: expected one of "
                                          "when_better, always"):
        validate_config(compose_config("tracking.promote=sometimes"))
