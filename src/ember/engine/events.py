"""Events fired by the :class:`~ember.engine.Engine`, event filters and event lists.

An event is a member of an :class:`EventEnum` (the built-in :class:`Events`, or a user's own
subclass registered with :meth:`Engine.register_events <ember.engine.Engine.register_events>`),
or a plain string registered the same way.

Calling an event builds a :class:`FilteredEvent` that fires only on some counts::

    Events.ITERATION_COMPLETED(every=100)   # iterations 100, 200, ...
    Events.EPOCH_COMPLETED(once=[1, 5])     # after epochs 1 and 5
    Events.ITERATION_STARTED(before=10)     # iterations 1..9
    Events.ITERATION_STARTED(after=10, every=5)  # iterations 11, 16, 21, ...
    Events.EPOCH_STARTED(event_filter=lambda engine, epoch: epoch in (1, 3))

Joining events with ``|`` builds an :class:`EventsList`, which attaches one handler to each::

    Events.STARTED | Events.EPOCH_COMPLETED(every=2)
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from ember.engine.engine import Engine

__all__ = ["EventEnum", "Events", "EventFilter", "FilteredEvent", "CallableEventWithFilter", "EventsList"]

#: A count no counter ever reaches: "no handler is due".
NEVER = sys.maxsize

EventFilterFunction = Callable[["Engine", int], bool]


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an integer, got {name}={value!r} ({type(value).__name__}). "
            f"Pass a whole number >= {minimum}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}. Pass a whole number >= {minimum}.")
    return value


class EventFilter:
    """Which counts of an event a handler fires on; built by calling an event.

    Three kinds exist and only one may be used at a time: ``once`` (a count or a collection of
    counts), the counting window ``every``/``before``/``after`` (any combination of the three), and
    a free ``event_filter(engine, count) -> bool``. Counts are the engine's global counters
    (``state.iteration`` for iteration events, ``state.epoch`` for epoch events).

    The engine uses :meth:`next_due` to skip a filtered handler entirely on counts where it
    cannot fire, so ``every=100`` costs nothing on the other 99 iterations.
    """

    __slots__ = ("after", "before", "every", "function", "once")

    def __init__(
        self,
        event_filter: EventFilterFunction | None = None,
        every: int | None = None,
        once: int | Iterable[int] | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> None:
        kinds = [
            name
            for name, given in (
                ("event_filter", event_filter is not None),
                ("once", once is not None),
                ("every/before/after", every is not None or before is not None or after is not None),
            )
            if given
        ]
        if not kinds:
            raise ValueError(
                "An event filter needs one of event_filter, every, once, before or after; got none. "
                "Use the event itself (e.g. Events.ITERATION_COMPLETED) to fire on every count."
            )
        if len(kinds) > 1:
            raise ValueError(
                f"An event filter takes one kind of filter at a time, got {' and '.join(kinds)}. "
                "Pass only one of event_filter, once, or every/before/after (those three may be combined)."
            )
        self.function: EventFilterFunction | None = None
        self.every: int | None = None
        self.once: frozenset[int] | None = None
        self.before: int | None = None
        self.after: int | None = None
        if event_filter is not None:
            if not callable(event_filter):
                raise TypeError(
                    f"event_filter must be a callable (engine, count) -> bool, got {event_filter!r} "
                    f"({type(event_filter).__name__})."
                )
            _check_filter_signature(event_filter)
            self.function = event_filter
        elif once is not None:
            if isinstance(once, int):
                counts = [once]
            elif isinstance(once, Iterable) and not isinstance(once, (str, bytes)):
                counts = list(once)
            else:
                raise TypeError(
                    f"once must be an integer or a collection of integers, got once={once!r} "
                    f"({type(once).__name__}). Pass e.g. once=5 or once=[1, 5]."
                )
            if not counts:
                raise ValueError("once must name at least one count, got an empty collection.")
            self.once = frozenset(_check_count("once", count, 1) for count in counts)
        else:
            if every is not None:
                self.every = _check_count("every", every, 1)
            if before is not None:  # before=0 (or 1) fires on no count; allowed, as in pytorch-ignite
                self.before = _check_count("before", before, 0)
            if after is not None:
                self.after = _check_count("after", after, 0)
            if self.before is not None and self.after is not None and self.before <= self.after + 1:
                raise ValueError(
                    f"before={self.before} and after={self.after} leave no count to fire on. Pass before > after + 1."
                )

    def fires(self, engine: Engine, count: int) -> bool:
        """Whether a handler with this filter fires when the event's counter is ``count``."""
        if self.function is not None:
            return bool(self.function(engine, count))
        if self.once is not None:
            return count in self.once
        if self.before is None and self.after is None and self.every is not None:
            return count % self.every == 0
        # a window (before and/or after) never opens at count 0, as in pytorch-ignite
        return (
            count > (self.after or 0)
            and (self.before is None or count < self.before)
            and (self.every is None or count % self.every == self._phase(self.every))
        )

    def is_every_count(self) -> bool:
        """Whether the filter passes every count (``every=1`` alone), so that it filters nothing."""
        return self.every == 1 and self.before is None and self.after is None

    def _phase(self, every: int) -> int:
        """The remainder modulo ``every`` of the counts that fire.

        Alone, ``every=k`` fires on multiples of k. With a window (``before`` and/or ``after``), it
        fires on the window's first count and every k-th count after it: ``after + 1``,
        ``after + 1 + k``, ... (``after`` counts as 0 when only ``before`` is given), as in
        pytorch-ignite.
        """
        if self.before is None and self.after is None:
            return 0
        return ((self.after or 0) + 1) % every

    def next_due(self, count: int) -> int:
        """The smallest count ``>= count`` on which this filter may fire (``NEVER`` if none)."""
        if self.function is not None:
            return count
        if self.once is not None:
            return min((k for k in self.once if k >= count), default=NEVER)
        if self.before is None and self.after is None and self.every is not None:
            return count + (-count) % self.every
        start = max(count, (self.after or 0) + 1)
        if self.every is not None:
            start += (self._phase(self.every) - start) % self.every
        if self.before is not None and start >= self.before:
            return NEVER
        return start

    def __repr__(self) -> str:
        if self.function is not None:
            return f"event_filter={self.function!r}"
        if self.once is not None:
            return f"once={sorted(self.once)}"
        parts = [
            f"{name}={getattr(self, name)}" for name in ("every", "before", "after") if getattr(self, name) is not None
        ]
        return ", ".join(parts)


def _check_filter_signature(function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(None, 0)
    except TypeError:
        raise TypeError(
            f"event_filter {getattr(function, '__qualname__', function)!r} has parameters "
            f"{signature.replace(return_annotation=inspect.Signature.empty)} "
            "but is called as event_filter(engine, count). Give it two parameters (engine, count)."
        ) from None


class EventEnum(Enum):
    """Base class of event enumerations; subclass it to declare custom events.

    Members can be called to build a :class:`FilteredEvent` and joined with ``|`` into an
    :class:`EventsList`. Register custom events on an engine before attaching handlers::

        class BackpropEvents(EventEnum):
            BACKWARD_STARTED = "backward_started"
            BACKWARD_COMPLETED = "backward_completed"

        engine.register_events(*BackpropEvents)
    """

    def __eq__(self, other: object) -> bool:
        """An event equals itself, the same event with a filter, and its name, as in pytorch-ignite.

        >>> Events.ITERATION_COMPLETED(every=10) == Events.ITERATION_COMPLETED
        True
        >>> Events.ITERATION_COMPLETED == "ITERATION_COMPLETED"
        True
        """
        if self is other:
            return True
        if isinstance(other, FilteredEvent):
            return other.event is self
        if isinstance(other, str):
            return self._name_ == other
        return False

    # Hashing by identity keeps dictionary look-ups in C (the engine looks events up on every fire). So an
    # event equals its name, but a dict keyed by events is not looked up by the name (ignite's is).
    __hash__ = object.__hash__

    def __call__(
        self,
        event_filter: EventFilterFunction | None = None,
        every: int | None = None,
        once: int | Iterable[int] | None = None,
        before: int | None = None,
        after: int | None = None,
    ) -> FilteredEvent:
        """Return this event restricted to the counts a filter selects (see :class:`EventFilter`)."""
        return FilteredEvent(self, EventFilter(event_filter, every, once, before, after))

    def __or__(self, other: Any) -> EventsList:
        joined: EventsList = EventsList([self]) | other
        return joined


class Events(EventEnum):
    """The events an :class:`~ember.engine.Engine` fires on its own.

    See :meth:`Engine.run <ember.engine.Engine.run>` for the exact order in which they fire.
    """

    #: the run begins (not fired again when an interrupted run resumes)
    STARTED = "started"
    #: an epoch begins; ``state.epoch`` already counts it
    EPOCH_STARTED = "epoch_started"
    #: before the engine asks the data for the next batch
    GET_BATCH_STARTED = "get_batch_started"
    #: the batch was fetched and is in ``state.batch``; handlers may replace it
    GET_BATCH_COMPLETED = "get_batch_completed"
    #: an iteration begins; ``state.iteration`` already counts it
    ITERATION_STARTED = "iteration_started"
    #: the process function returned; its result is in ``state.output``
    ITERATION_COMPLETED = "iteration_completed"
    #: the data iterator ran out (the engine then starts a new pass over the data, if needed)
    DATALOADER_STOP_ITERATION = "dataloader_stop_iteration"
    #: an epoch ends
    EPOCH_COMPLETED = "epoch_completed"
    #: the run ends (after the last epoch, or after ``terminate()``)
    COMPLETED = "completed"
    #: an exception escaped the loop; handlers get ``(engine, exception)``
    EXCEPTION_RAISED = "exception_raised"
    #: ``terminate()`` was honoured; fired just before ``COMPLETED``
    TERMINATE = "terminate"
    #: ``terminate_epoch()`` was honoured; fired just before ``EPOCH_COMPLETED``
    TERMINATE_SINGLE_EPOCH = "terminate_single_epoch"
    #: ``interrupt()`` was honoured; ``run()`` returns right after this event
    INTERRUPT = "interrupt"


#: The state counter each built-in event's filters count (events absent here have no counter).
BUILTIN_EVENT_COUNTERS: dict[Any, str] = {
    Events.STARTED: "epoch",
    Events.EPOCH_STARTED: "epoch",
    Events.GET_BATCH_STARTED: "iteration",
    Events.GET_BATCH_COMPLETED: "iteration",
    Events.ITERATION_STARTED: "iteration",
    Events.ITERATION_COMPLETED: "iteration",
    Events.EPOCH_COMPLETED: "epoch",
    Events.COMPLETED: "epoch",
}


class FilteredEvent:
    """An event together with an :class:`EventFilter`; built by calling an event.

    >>> Events.ITERATION_COMPLETED(every=100)
    FilteredEvent(Events.ITERATION_COMPLETED, every=100)
    """

    __slots__ = ("event", "filter")

    def __init__(self, event: EventEnum, event_filter: EventFilter) -> None:
        self.event = event
        self.filter = event_filter

    @property
    def name(self) -> str:
        """The name of the event it filters."""
        return self.event.name

    @property
    def value(self) -> Any:
        """The value of the event it filters."""
        return self.event.value

    def __eq__(self, other: object) -> bool:
        """A filtered event equals its event (with any filter) and its name, as in pytorch-ignite."""
        if isinstance(other, FilteredEvent):
            return other.event is self.event
        return self.event == other

    def __hash__(self) -> int:
        return hash(self.event)

    def __or__(self, other: Any) -> EventsList:
        joined: EventsList = EventsList([self]) | other
        return joined

    def __repr__(self) -> str:
        return f"FilteredEvent({type(self.event).__name__}.{self.event.name}, {self.filter!r})"


#: The name pytorch-ignite gives the filtered-event type.
CallableEventWithFilter = FilteredEvent

AnyEvent = Union[EventEnum, str, FilteredEvent]  # noqa: UP007 (a runtime alias on Python 3.10)


class EventsList:
    """Several events, built with ``|``; a handler attached to it is attached to each.

    >>> Events.STARTED | Events.COMPLETED
    EventsList([Events.STARTED, Events.COMPLETED])
    """

    __slots__ = ("_events",)

    def __init__(self, events: Iterable[AnyEvent] = ()) -> None:
        self._events: list[AnyEvent] = []
        for event in events:
            self._append(event)

    def _append(self, event: Any) -> None:
        if isinstance(event, EventsList):
            self._events.extend(event)
        elif isinstance(event, (EventEnum, str, FilteredEvent)):
            self._events.append(event)
        else:
            raise TypeError(
                f"EventsList holds events (an EventEnum member, a registered string or a filtered event), "
                f"got {event!r} ({type(event).__name__})."
            )

    def __or__(self, other: Any) -> EventsList:
        joined = EventsList(self._events)
        joined._append(other)
        return joined

    def __iter__(self) -> Iterator[AnyEvent]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index: int) -> AnyEvent:
        return self._events[index]

    def __repr__(self) -> str:
        names = [f"{type(e).__name__}.{e.name}" if isinstance(e, EventEnum) else repr(e) for e in self._events]
        return f"EventsList([{', '.join(names)}])"


def __getattr__(name: str) -> Any:
    """``State`` and ``RemovableEventHandle``, which pytorch-ignite code imports from ``ignite.engine.events``.

    They live in :mod:`ember.engine.state` and :mod:`ember.engine.engine`, which import this module,
    so they are looked up on first access (PEP 562).
    """
    if name == "State":
        from ember.engine.state import State

        return State
    if name == "RemovableEventHandle":
        from ember.engine.engine import RemovableEventHandle

        return RemovableEventHandle
    raise AttributeError(f"module 'ember.engine.events' has no attribute {name!r}")
