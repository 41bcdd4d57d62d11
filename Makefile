# The README's commands. `make run` and `make test` set everything up on a
# fresh machine (a virtual environment in .venv with the project installed).

PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# The real IMDB archive, when it lies beside the project (as on our machines);
# without it the main job downloads keras.datasets.imdb instead.
IMDB_SWEEP_ACLIMDB ?= $(abspath $(wildcard ../shared/data/aclImdb_labeled.tar.gz))
export IMDB_SWEEP_ACLIMDB
DATA_PATH_MARK := imdb_sweep: the IMDB archive

.PHONY: setup run sweep report test test-fast lint server clean

setup: $(VENV)/.installed $(VENV)/.data_path

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test,ray]"
	touch $@

# `. .venv/bin/activate` exports the archive make found, so the README's commands
# typed in that shell read the same data (a value the user exported wins).
$(VENV)/.data_path: $(VENV)/.installed
	@if [ -n "$(IMDB_SWEEP_ACLIMDB)" ] && ! grep -q "$(DATA_PATH_MARK)" $(VENV)/bin/activate; then \
	    printf '\n# %s (written by make setup)\nexport IMDB_SWEEP_ACLIMDB="$${IMDB_SWEEP_ACLIMDB:-%s}"\n' \
	        "$(DATA_PATH_MARK)" "$(IMDB_SWEEP_ACLIMDB)" >> $(VENV)/bin/activate; \
	    echo "IMDB_SWEEP_ACLIMDB=$(IMDB_SWEEP_ACLIMDB) (. $(VENV)/bin/activate exports it)"; \
	fi
	touch $@

# One job: the reference baseline model, logged to mlruns/.
run: setup
	$(PYTHON) -m imdb_sweep $(ARGS)

# Every named ablation as one sweep, two jobs side by side (hydra/launcher=parallel;
# never slower than one job at a time in benchmarks/sweep_launchers.py).
sweep: setup
	$(PYTHON) -m imdb_sweep -m hydra/launcher=parallel 'variant=glob(*)' $(ARGS)

# The comparison table of the latest sweep.
report: setup
	$(PYTHON) -m imdb_sweep.report $(ARGS)

test: setup
	$(PYTHON) -m pytest $(ARGS)

# Unit tests only (no real archive, no servers): a few minutes, for quick iterations.
test-fast: setup
	$(PYTHON) -m pytest -m "not slow" $(ARGS)

# ruff (lint rules and import order) over the checkout and mypy over the package and
# our Hydra plugin, both configured in pyproject.toml; .ci/run runs this before the tests.
lint: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

# The MLflow UI over the local store on http://127.0.0.1:5000 (this machine only).
# Another store or port: make server ARGS="--store /data/mlruns --port 5001".
server: setup
	$(PYTHON) -m imdb_sweep.server $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
