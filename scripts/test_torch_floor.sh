#!/usr/bin/env bash
# Run ember's whole test suite on the lowest torch that pyproject.toml promises (its `torch>=X.Y`), so that
# promise stays a tested one. Not part of `make test` or CI: it builds a venv of its own with that torch
# (the CUDA wheels from PyPI, about 4 GB; they run on a CPU-only machine too) and the dev extra, then runs
# the suite there. `make test-torch-floor` runs it.
#
#   scripts/test_torch_floor.sh                    # the floor's newest patch release, the whole suite
#   TORCH=2.3.0 scripts/test_torch_floor.sh        # another release of the floor (or any version)
#   scripts/test_torch_floor.sh tests/distributed  # extra arguments go to pytest
#
# Environment: TORCH (the version to install; default: the newest X.Y.* on the index), VENV (default:
# .venv-torch-floor in the repository), PYTEST_ARGS (default: -n 2 --dist loadgroup), PYTHON (default: python3).
# Tests of features that need a newer torch skip, naming the version (tests/conftest.py: requires_torch).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLOOR=$(sed -n 's/^dependencies = \[.*"torch>=\([0-9][0-9.]*\)".*\]$/\1/p' "$ROOT/pyproject.toml")
if [[ -z "$FLOOR" ]]; then
    echo "Could not read the torch floor (torch>=X.Y) from the dependencies line of $ROOT/pyproject.toml." >&2
    exit 2
fi
TORCH=${TORCH:-}
VENV=${VENV:-$ROOT/.venv-torch-floor}
PYTHON=${PYTHON:-python3}
read -r -a PYTEST_ARGS <<<"${PYTEST_ARGS:--n 2 --dist loadgroup}"

CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
if [[ -n "$TORCH" ]]; then
    echo "torch==$TORCH" >"$CONSTRAINTS"
else
    echo "torch==$FLOOR.*" >"$CONSTRAINTS"
fi
# torch wheels before 2.4 were built against NumPy 1 and cannot use NumPy 2
echo "numpy<2" >>"$CONSTRAINTS"

PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS")
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"${PIP[@]}" torch
"${PIP[@]}" -e "$ROOT[dev]"
INSTALLED=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
echo "pyproject.toml promises torch>=$FLOOR; running the suite on torch $INSTALLED ($VENV)."

cd "$ROOT"
exec "$VENV/bin/pytest" -q "${PYTEST_ARGS[@]}" "$@"
