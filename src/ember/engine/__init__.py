"""The core of ember: the :class:`Engine`, its events and state, and the supervised factories."""

from ember.engine.engine import Engine, RemovableEventHandle
from ember.engine.events import CallableEventWithFilter, EventEnum, EventFilter, Events, EventsList, FilteredEvent
from ember.engine.state import State
from ember.engine.supervised import (
    EvaluationStep,
    TrainerEvents,
    TrainingStep,
    create_supervised_evaluator,
    create_supervised_trainer,
    prepare_batch,
    supervised_evaluation_step,
    supervised_training_step,
)

__all__ = [
    "CallableEventWithFilter",
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
    "create_supervised_evaluator",
    "create_supervised_trainer",
    "prepare_batch",
    "supervised_evaluation_step",
    "supervised_training_step",
]
