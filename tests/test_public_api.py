"""The public names of each package are pinned: adding or dropping one is a deliberate change."""

from __future__ import annotations

import importlib

import pytest

import ember
import ember.engine

EXPECTED = {
    "ember.handlers": ["BaseLogger", "MLflowLogger", "TensorBoardLogger", "global_step_from_engine"],
    "ember": ["Engine", "Events", "State", "__version__"],
    "ember.engine": [
        "CallableEventWithFilter",
        "Engine",
        "EventEnum",
        "EventFilter",
        "Events",
        "EventsList",
        "FilteredEvent",
        "RemovableEventHandle",
        "State",
        "create_supervised_evaluator",
        "create_supervised_trainer",
    ],
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(EXPECTED[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names {name}, which the module does not define"


def test_removable_event_handle_module_path() -> None:
    from ember.engine.engine import RemovableEventHandle

    assert RemovableEventHandle is ember.engine.RemovableEventHandle


def test_importing_ember_changes_nothing_global() -> None:
    """No handlers on the root logger, no signal handlers installed by importing ember."""
    import subprocess
    import sys

    script = (
        "import logging, signal\n"
        "before = (len(logging.getLogger().handlers), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))\n"
        "import ember, ember.engine, ember.handlers\n"
        "after = (len(logging.getLogger().handlers), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))\n"
        "assert before == after, (before, after)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
