"""What a study keeps of its search (search/definition.py): a command's search compared with it."""

from __future__ import annotations

from optuna.distributions import distribution_to_json

from imdb_sweep.search.definition import SearchDefinition, placement_arguments, training_arguments
from imdb_sweep.search.space import SearchSpace


def definition(*arguments: str, sampler_seed: int = 1) -> SearchDefinition:
    space = SearchSpace.from_overrides(list(arguments))
    return SearchDefinition(
        arguments=training_arguments(list(arguments)), conditional_params={}, objective="best_val_accuracy",
        direction="maximize", sampler={"_target_": "optuna.samplers.TPESampler", "seed": sampler_seed},
        pruner="asha", pruner_config={"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": 1},
        custom_search_space=None, n_trials=10,
        distributions={key: distribution_to_json(value) for key, value in space.distributions.items()})


def test_the_same_search_spelled_otherwise_or_placed_elsewhere_has_no_difference():
    stored = definition("model.units=choice(16,32)", "train.epochs=2", "tracking.experiment=a")
    given = definition("model.units=16,32", "train.epochs=2", "runtime.verbose=0")
    assert stored.differences(given) == []
    assert SearchDefinition.from_json(stored.to_json()) == stored


def test_each_difference_is_one_line_naming_the_key():
    stored = definition("model.units=choice(16,32)", "model.dropout=interval(0.0,0.5)", "train.epochs=2")
    given = definition("model.units=choice(16,64)", "train.epochs=3", "model.activation=tanh", sampler_seed=2)
    assert stored.differences(given) == [
        "model.units: the study searches choice(16,32), this command choice(16,64)",
        "model.dropout: the study searches interval(0.0,0.5), this command does not give it",
        "train.epochs: the study searches 2, this command 3",
        "model.activation: the study searches nothing (the key is not part of its search), this command tanh",
        "hydra.sweeper.sampler: the study's is {'_target_': 'optuna.samplers.TPESampler', 'seed': 1}, "
        "this command's {'_target_': 'optuna.samplers.TPESampler', 'seed': 2}",
    ]


def test_placement_overrides_are_the_workers_own():
    arguments = ["model.units=choice(16,32)", "tracking.uri=http://127.0.0.1:5000", "runtime.threads=2",
                 "data.path=/data/a.tar.gz", "data.maxlen=50"]
    assert training_arguments(arguments) == ["model.units=choice(16,32)", "data.maxlen=50"]
    assert placement_arguments(arguments) == ["tracking.uri=http://127.0.0.1:5000", "runtime.threads=2",
                                              "data.path=/data/a.tar.gz"]
