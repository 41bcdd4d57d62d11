"""The names processes share are spelled in imdb_sweep/contract.py only (no training)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from imdb_sweep import contract

PACKAGE_ROOT = Path(contract.__file__).resolve().parent
# Our tags and Optuna attributes all start with this; MLflow's own start with "mlflow.".
NAME_PREFIX = "imdb_sweep."


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants: text for people, where a name may be mentioned."""
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, owners) and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def _is_module_path(text: str) -> bool:
    """`imdb_sweep.job`: a module of the package, not a tag."""
    path = PACKAGE_ROOT.parent.joinpath(*text.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def shared_names_in(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of each string constant outside docstrings that is one of our tag
    or attribute names, or a job's metric name. A message that mentions a name in a
    sentence is neither equal to it nor starts with the prefix."""
    docstrings = _docstrings(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and (node.value in contract.JOB_METRICS
                 or (node.value.startswith(NAME_PREFIX) and not _is_module_path(node.value)))]


def names_spelled_outside_contract() -> list[str]:
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if path != PACKAGE_ROOT / "contract.py":
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            found += [f"{path.relative_to(PACKAGE_ROOT.parent)}:{line}: {text!r}"
                      for line, text in shared_names_in(tree)]
    return found


def test_every_shared_name_is_spelled_in_the_contract_only():
    assert names_spelled_outside_contract() == [], "use the name from imdb_sweep/contract.py"


def test_every_direction_is_maximize_or_minimize():
    assert set(contract.DIRECTIONS) == {"maximize", "minimize"}
    assert set(contract.METRIC_DIRECTIONS.values()) <= set(contract.DIRECTIONS)
    for objective in contract.OBJECTIVE_METRICS:
        assert contract.METRIC_DIRECTIONS[objective] in contract.DIRECTIONS, objective
    assert contract.DEFAULT_OBJECTIVE in contract.OBJECTIVE_METRICS


def test_objectives_are_validation_metrics_every_job_logs():
    assert set(contract.OBJECTIVE_METRICS) <= set(contract.JOB_METRICS)
    assert not [name for name in contract.OBJECTIVE_METRICS if "test" in name]  # never optimized on the test set


def test_directions_cover_metrics_of_ours_and_default_to_maximize():
    assert set(contract.METRIC_DIRECTIONS) <= set(contract.JOB_METRICS)
    assert len(set(contract.JOB_METRICS)) == len(contract.JOB_METRICS)
    assert contract.direction_of(contract.TEST_LOSS) == "minimize"
    assert contract.direction_of(contract.TRAIN_SECONDS) == "minimize"
    assert contract.direction_of(contract.TEST_ACCURACY) == "maximize"
    assert contract.direction_of("a_metric_someone_else_logged") == "maximize"


@pytest.mark.parametrize("index", [0, 1, 7, 41])
def test_trial_and_job_numbers_invert_each_other(index):
    assert contract.job_number(contract.job_index(index)) == index
    assert contract.job_index(contract.job_number(index)) == index


def test_optuna_trial_zero_is_job_one():
    assert contract.job_number(0) == 1
    assert contract.reused_tag(contract.job_number(0)) == "imdb_sweep.reused.1"


def test_the_scan_finds_a_name_spelled_elsewhere():
    """On a sample: a tag's value and a metric's are found; a docstring, a message and a module are not."""
    sample = ('"""Tags imdb_sweep.role and test_accuracy, in a docstring."""\n'
              'ROLE = "imdb_sweep.role"\nMETRIC = {"test_accuracy": 1.0}\n'
              'MESSAGE = f"no run logged test_accuracy {1}"\nMODULE = "imdb_sweep.job"\n')
    assert shared_names_in(ast.parse(sample)) == [(2, "imdb_sweep.role"), (3, "test_accuracy")]


def test_directions_agree_with_the_names_of_losses_and_times():
    """The report once guessed a direction from the name (lower is better for *loss and
    *seconds): the table ranks every metric of ours as that guess did."""
    for metric in contract.JOB_METRICS:
        if metric in contract.METRIC_DIRECTIONS or metric.endswith(("loss", "seconds")):
            expected = "minimize" if metric.endswith(("loss", "seconds")) else "maximize"
            assert contract.direction_of(metric) == expected, metric


def test_a_search_record_reads_back_from_its_tags_as_written():
    record = contract.SearchRecord(objective=contract.BEST_VAL_LOSS, direction=contract.MINIMIZE, sampler="tpe",
                                   pruner="asha(min_resource=1)", study_name="wide",
                                   storage="postgresql://optuna:***@db/optuna")
    assert contract.SearchRecord.from_tags(record.to_tags(), "run") == record
    assert record.minimize


def test_a_search_record_from_an_older_parent_or_a_grid():
    # A parent that recorded its objective only: maximized, the rest unknown.
    older = contract.SearchRecord.from_tags({contract.SEARCH_OBJECTIVE: contract.BEST_VAL_ACCURACY}, "run")
    assert older == contract.SearchRecord(contract.BEST_VAL_ACCURACY, contract.MAXIMIZE)
    assert older.to_tags() == {contract.SEARCH_OBJECTIVE: contract.BEST_VAL_ACCURACY,
                               contract.SEARCH_DIRECTION: contract.MAXIMIZE}
    assert contract.SearchRecord.from_tags({contract.SWEEP_ID: "grid"}, "run") is None
    with pytest.raises(ValueError, match="the parent run run has tag imdb_sweep.search.direction='up'"):
        contract.SearchRecord.from_tags({contract.SEARCH_OBJECTIVE: contract.BEST_VAL_ACCURACY,
                                         contract.SEARCH_DIRECTION: "up"}, "run")
