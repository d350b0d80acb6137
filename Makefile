# `make demo`, `make test` and `make docs` each set up .venv on their own (torch pinned to the local CPU build).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test check lint typecheck pytest docs bench clean test-torch-floor

$(BIN)/.ember-installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev,docs]'
	touch $@

demo: $(BIN)/.ember-installed
	$(BIN)/python -m ember.examples.digits

# The quick checks first (ruff, mypy and the docs build take about 20 s), so that they fail before the suite runs.
test: lint typecheck docs pytest

# The fast loop before a commit (about a minute; also .pre-commit-config.yaml): the static checks, then the
# tests that start no processes and take no more than a few seconds each, stopping at the first failure.
check: lint typecheck
	$(BIN)/pytest -q -x -n 2 --dist loadgroup -m "not slow and not distributed"

# ruff (style, and no function over complexity 15), and the layer contract of .importlinter.
lint: $(BIN)/.ember-installed
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/.ember-installed
	$(BIN)/mypy

# Two pytest-xdist workers by default (on 2 cores, about 2 instead of 3 minutes); the tests that start
# several processes all run on one of them, one at a time (tests/conftest.py). `make pytest PYTEST_ARGS=-n0`
# runs the suite serially in one process, e.g. to debug with --pdb.
PYTEST_ARGS ?= -n 2 --dist loadgroup
pytest: $(BIN)/.ember-installed
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The documentation site, into site/; --strict: a broken link or reference, or a public name missing from
# the API reference, fails the build (scripts/docs_hooks.py). `$(BIN)/mkdocs serve` previews it.
docs: $(BIN)/.ember-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The whole suite on the lowest torch pyproject.toml promises (torch>=X.Y), in .venv-torch-floor (about 4 GB of
# CUDA wheels, which run on a CPU too): not part of `make test`. docs/versioning.md says what needs a newer torch.
test-torch-floor:
	scripts/test_torch_floor.sh

bench: $(BIN)/.ember-installed
	$(BIN)/python benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) build site src/*.egg-info
