"""The supervised package keeps every import path of the former single module, in files of at most 800 lines."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import ember.engine
import ember.supervised

NAMES = ember.supervised.__all__


@pytest.mark.parametrize("name", NAMES)
def test_every_import_path_gives_the_same_object(name: str) -> None:
    """ember.supervised.X, its defining submodule's X, and ember.engine.X (ignite's import line) are one object."""
    value = getattr(ember.supervised, name)
    defining = importlib.import_module(value.__module__)
    assert defining.__name__.startswith("ember.supervised.")
    assert getattr(defining, name) is value and name in defining.__all__
    if name not in ("TrainingOptions", "EvaluationOptions"):
        assert getattr(ember.engine, name) is value
    with pytest.warns(DeprecationWarning, match="ember.engine.supervised is deprecated"):
        deprecated = importlib.reload(importlib.import_module("ember.engine.supervised"))
    if name in deprecated.__all__:
        assert getattr(deprecated, name) is value


def test_the_package_files_stay_small() -> None:
    folder = Path(ember.supervised.__file__).parent
    sizes = {path.name: len(path.read_text().splitlines()) for path in folder.glob("*.py")}
    assert set(sizes) >= {"__init__.py", "common.py", "training.py", "evaluation.py"}
    assert max(sizes.values()) <= 800, sizes
