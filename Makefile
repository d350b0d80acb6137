# `make demo` and `make test` each set up .venv on their own (torch pinned to the local CPU build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/.ember-installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	touch $@

demo: $(BIN)/.ember-installed
	$(BIN)/python -m ember.examples.digits

test: lint typecheck pytest

lint: $(BIN)/.ember-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(BIN)/.ember-installed
	$(BIN)/mypy

pytest: $(BIN)/.ember-installed
	$(BIN)/pytest -q

bench: $(BIN)/.ember-installed
	$(BIN)/python benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) build src/*.egg-info
