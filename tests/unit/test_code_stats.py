"""tools/code_stats.py: which functions it counts and how long, and which literals spell a shared name."""

from __future__ import annotations

import ast
import sys

from tests.helpers.paths import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tools"))

import code_stats  # a script beside the project, not a package

SOURCE = '''
def outer():
    """A docstring naming imdb_sweep.role is not a spelling."""
    def inner():
        return "imdb_sweep.role"
    return inner


class Search:
    async def tell(self):
        filter_string = f"tags.imdb_sweep.role = 'job' and metrics.val_accuracy > 0"
        return filter_string, "val_accuracy_of_something", "the imdb_sweep.role tag"
'''


def test_every_def_counts_from_its_def_line_to_its_last_line():
    found = code_stats.functions("imdb_sweep/example.py", ast.parse(SOURCE))
    assert [(function.name, function.lines) for function in found] == [
        ("imdb_sweep.example:outer", 5), ("imdb_sweep.example:outer.inner", 2),
        ("imdb_sweep.example:Search.tell", 3)]


def test_a_name_is_spelled_by_a_literal_that_is_it_or_names_it_in_a_search_filter():
    literals = code_stats.string_literals(ast.parse(SOURCE))
    # The inner return, and the f-string's filter; neither the docstring nor prose.
    assert code_stats.spellings("imdb_sweep.role", literals) == 2
    assert code_stats.spellings("val_accuracy", literals) == 1  # metrics.val_accuracy; not val_accuracy_of_...


def test_constants_of_one_value_are_one_shared_name():
    names = code_stats.shared_names('SWEEP_ID = "imdb_sweep.sweep_id"\nSTUDY_SWEEP_ID = "imdb_sweep.sweep_id"\n'
                                    'ROLE = "imdb_sweep.role"\nLIMIT = 3\n')
    assert names == {"SWEEP_ID/STUDY_SWEEP_ID": "imdb_sweep.sweep_id", "ROLE": "imdb_sweep.role"}


def test_the_working_tree_counts_every_module_of_the_package():
    stats = code_stats.code_stats(None, None)
    modules = [path for folder in code_stats.PACKAGE_FOLDERS for path in (PROJECT_ROOT / folder).rglob("*.py")
               if "__pycache__" not in path.parts]
    assert stats["modules"] == len(modules)
    assert len(stats["largest_functions"]) == code_stats.LARGEST
    assert stats["shared_name_spellings"]["ROLE"] >= 1  # contract.py spells each name once itself
