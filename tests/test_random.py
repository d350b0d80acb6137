"""ember.random: one home for the random generators' code, reachable from every old import path."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import torch

import ember.random

ROOT = Path(__file__).resolve().parents[1]


def draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(numpy.random.rand()), torch.rand(3)


def same(first: tuple[float, float, torch.Tensor], second: tuple[float, float, torch.Tensor]) -> bool:
    return first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])


def test_old_import_paths_give_the_same_objects() -> None:
    """ember.utils, ember.handlers(.checkpoint) and ember.engine.deterministic re-export, not copy."""
    import ember.engine.deterministic
    import ember.handlers
    import ember.handlers.checkpoint
    import ember.utils

    assert ember.utils.manual_seed is ember.random.manual_seed
    assert ember.handlers.RNGStates is ember.random.RNGStates
    assert ember.handlers.checkpoint.RNGStates is ember.random.RNGStates
    assert ember.engine.deterministic.keep_random_state is ember.random.keep_random_state


def test_manual_seed_seeds_the_generators_as_ignites_does() -> None:
    import ignite.utils

    ignite.utils.manual_seed(123)
    expected = draws()
    ember.random.manual_seed(123)
    assert same(draws(), expected)


def test_rng_states_restore_every_generator() -> None:
    saved = ember.random.RNGStates().state_dict()
    expected = draws()
    draws()
    ember.random.RNGStates().load_state_dict(saved)
    assert same(draws(), expected)


def test_ignites_list_of_states_restores_as_ignite_restores_it() -> None:
    """The list ignite's DeterministicEngine saves loads through restore_rng_states and RNGStates alike."""
    from ignite.engine.deterministic import _get_rng_states

    ignite_list = _get_rng_states()
    expected = draws()
    for restore in (ember.random.restore_rng_states, ember.random.RNGStates().load_state_dict):
        draws()
        restore(ignite_list)
        assert same(draws(), expected)


@pytest.mark.parametrize("bad", [42, [random.getstate()]])
def test_a_random_state_of_neither_form_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="pytorch-ignite's DeterministicEngine"):
        ember.random.restore_rng_states(bad)


def test_keep_random_state_leaves_the_generators_where_they_were_even_on_error() -> None:
    @ember.random.keep_random_state
    def fails() -> None:
        draws()
        raise KeyError("boom")

    saved = ember.random.RNGStates().state_dict()
    expected = draws()
    ember.random.RNGStates().load_state_dict(saved)
    with pytest.raises(KeyError):
        fails()
    assert same(draws(), expected)


def test_random_imports_nothing_from_ember() -> None:
    """The bottom layer: ember.random imports only the standard library, torch and NumPy."""
    tree = ast.parse((ROOT / "src" / "ember" / "random.py").read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.split(".")[0] == "ember"]


def test_the_deterministic_engine_imports_no_handler() -> None:
    """No engine -> handlers import left: using DeterministicEngine (state dicts included) loads no handler."""
    program = (
        "import sys, torch\n"
        "from ember.engine.deterministic import DeterministicEngine, keep_random_state\n"
        "engine = DeterministicEngine(lambda e, b: torch.rand(1))\n"
        "engine.run([1, 2, 3], max_epochs=1)\n"
        "saved = engine.state_dict()\n"
        "engine.load_state_dict(saved)\n"
        "keep_random_state(lambda: torch.rand(1))()\n"
        "print(sorted(name for name in sys.modules if name.startswith('ember.handlers')))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
