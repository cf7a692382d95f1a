# The two commands of the README: `make run` and `make test`. Both set everything up first
# (a virtual environment in .venv, the package, the offline assets) and are idempotent.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup assets run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

assets: setup
	$(BIN)/superalign assets fetch

run: assets
	$(BIN)/superalign run

lint: setup
	$(BIN)/ruff check superalign tests bench
	$(BIN)/ruff format --check superalign tests bench

test: assets lint
	$(BIN)/python -m pytest -q

bench: assets
	$(BIN)/python bench/run_default.py

clean:
	rm -rf $(VENV) runs
