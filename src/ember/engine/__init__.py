"""The core of ember: the :class:`Engine`, its events and state, and the supervised factories."""

from ember.engine.engine import Engine, RemovableEventHandle
from ember.engine.events import CallableEventWithFilter, EventEnum, EventFilter, Events, EventsList, FilteredEvent
from ember.engine.state import State
from ember.engine.supervised import create_supervised_evaluator, create_supervised_trainer

__all__ = [
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
]
