"""The core of ember: the :class:`Engine`, its events and state; and, imported when first used, ignite's
supervised factories (from :mod:`ember.supervised`) and :class:`DeterministicEngine`.

``from ember.engine import create_supervised_trainer`` works as pytorch-ignite's import line does, but
``import ember.engine`` alone loads only the engine: the supervised module (and what it imports) is
loaded on first access to one of its names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ember.engine.engine import Engine, RemovableEventHandle
from ember.engine.events import CallableEventWithFilter, EventEnum, EventFilter, Events, EventsList, FilteredEvent
from ember.engine.state import State

if TYPE_CHECKING:
    from ember.engine.deterministic import DeterministicEngine
    from ember.supervised import (
        EvaluationStep,
        TrainerEvents,
        TrainingStep,
        create_supervised_evaluator,
        create_supervised_trainer,
        prepare_batch,
        supervised_evaluation_step,
        supervised_evaluation_step_amp,
        supervised_training_step,
        supervised_training_step_amp,
    )
    from ember.utils import convert_tensor

# name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {
    "DeterministicEngine": "ember.engine.deterministic",
    "EvaluationStep": "ember.supervised",
    "TrainerEvents": "ember.supervised",
    "TrainingStep": "ember.supervised",
    "convert_tensor": "ember.utils",
    "create_supervised_evaluator": "ember.supervised",
    "create_supervised_trainer": "ember.supervised",
    "prepare_batch": "ember.supervised",
    "supervised_evaluation_step": "ember.supervised",
    "supervised_evaluation_step_amp": "ember.supervised",
    "supervised_training_step": "ember.supervised",
    "supervised_training_step_amp": "ember.supervised",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ember.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CallableEventWithFilter",
    "DeterministicEngine",
    "Engine",
    "EvaluationStep",
    "EventEnum",
    "EventFilter",
    "Events",
    "EventsList",
    "FilteredEvent",
    "RemovableEventHandle",
    "State",
    "TrainerEvents",
    "TrainingStep",
    "convert_tensor",
    "create_supervised_evaluator",
    "create_supervised_trainer",
    "prepare_batch",
    "supervised_evaluation_step",
    "supervised_evaluation_step_amp",
    "supervised_training_step",
    "supervised_training_step_amp",
]
