"""Unit tests: tests/unit/<folder>/ tests imdb_sweep/<folder>/ (test_architecture checks the mirror);
checks of the whole package and of tools/ at this level."""
