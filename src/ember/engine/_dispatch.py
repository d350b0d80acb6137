"""Handler dispatch: what runs when an event fires, prepared when handlers are added or removed.

How dispatch stays cheap: every change to the handlers of an event rebuilds a small
:class:`_Dispatch` for it (a tuple of ready-to-call callables, plus the filters), and, for the four
events fired on every iteration, the next counter value at which any of their handlers is due.
The loop compares its iteration counter with those four numbers and calls nothing else unless one
is reached, so an iteration with no handler due costs a handful of comparisons, and a handler on
``ITERATION_COMPLETED(every=100)`` is not looked at on the 99 iterations where it does not fire.

The public methods that change the handlers (``add_event_handler``, ``register_events``,
``add_handler_wrapper`` ...) are :class:`~ember.engine.Engine`'s; they rebuild the tables here.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from ember.engine.events import NEVER, EventFilter, Events, EventsList
from ember.engine.state import State

if TYPE_CHECKING:
    from ember.engine.engine import Engine

#: ``wrapper(event, handler, call) -> call``: see :meth:`Engine.add_handler_wrapper`.
HandlerWrapper = Callable[[Any, Callable[..., Any], Callable[..., Any]], Callable[..., Any]]

# Slots of the events fired on every iteration, in the engine's ``_due`` list.
_GET_BATCH_STARTED, _GET_BATCH_COMPLETED, _ITERATION_STARTED, _ITERATION_COMPLETED = range(4)
_PER_ITERATION_EVENTS = (
    Events.GET_BATCH_STARTED,
    Events.GET_BATCH_COMPLETED,
    Events.ITERATION_STARTED,
    Events.ITERATION_COMPLETED,
)
# Events fired with an argument after the engine: handlers are called as handler(engine, exception).
_EVENT_ARGUMENTS: dict[Any, tuple[str, ...]] = {Events.EXCEPTION_RAISED: ("exception",)}
# Events fired with a keyword value that only the handlers that accept it receive (as in pytorch-ignite).
_EVENT_KEYWORDS: dict[Any, str] = {Events.TERMINATE_SINGLE_EPOCH: "iter_counter"}


class _Entry:
    """One registration of a handler on an event.

    ``bound`` calls the handler as it was registered; ``call`` is what firing invokes: ``bound``
    itself, or ``bound`` routed through the engine's handler wrappers (see ``add_handler_wrapper``).
    """

    __slots__ = ("bound", "call", "filter", "handler")

    def __init__(
        self,
        handler: Callable[..., Any],
        bound: Callable[..., Any],
        event_filter: EventFilter | None,
        call: Callable[..., Any] | None = None,
    ) -> None:
        self.handler = handler
        self.bound = bound
        self.filter = event_filter
        self.call = bound if call is None else call


class _Dispatch:
    """The handlers of one event, prepared for firing."""

    __slots__ = ("calls", "entries")

    def __init__(self, entries: tuple[_Entry, ...]) -> None:
        self.entries = entries
        # When no handler is filtered, firing is a plain loop over this tuple.
        self.calls = None if any(e.filter is not None for e in entries) else tuple(e.call for e in entries)

    def call_due(self, engine: Any, count: int, values: tuple[Any, ...]) -> None:
        """Call the handlers whose filter passes at ``count`` (unfiltered ones always): every event's filtered path.

        ``engine`` is the :class:`~ember.engine.Engine` that fires (typed loosely: its base classes call this).
        """
        for entry in self.entries:
            if entry.filter is None or entry.filter.fires(engine, count):
                entry.call(engine, *values)

    def next_due(self, count: int) -> int:
        """The smallest counter value ``>= count`` at which a handler of this event may fire."""
        due = NEVER
        for entry in self.entries:
            if entry.filter is None:
                return count
            due = min(due, entry.filter.next_due(count))
        return due


_EMPTY_DISPATCH = _Dispatch(())


def _describe(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _bind_handler(
    handler: Callable[..., Any], event: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[..., Any]:
    """Return a callable ``call(engine, *event_values)`` that invokes ``handler`` as registered.

    A handler takes the engine as its first argument, or (as in pytorch-ignite) no engine at all.
    Its signature is checked here, once, so that a mismatch fails when it is attached.
    ``EXCEPTION_RAISED`` passes the exception: ``handler(engine, exception)``, or, for a handler
    with one parameter, ``handler(exception)`` as pytorch-ignite does. ``TERMINATE_SINGLE_EPOCH``
    passes ``iter_counter=`` (iterations run in the cut-short epoch) to handlers that accept it.
    """
    event_args = _EVENT_ARGUMENTS.get(event, ())
    keyword = _EVENT_KEYWORDS.get(event)
    try:
        signature: inspect.Signature | None = inspect.signature(handler)
    except (TypeError, ValueError):  # a builtin without a signature: assume it takes the engine
        signature = None
    takes_engine = True
    if signature is not None:
        placeholders = [None] * len(event_args)
        try:
            if not (keyword and _accepts_keyword(signature, keyword, True, args, kwargs)):
                signature.bind(None, *placeholders, *args, **kwargs)
        except TypeError:
            try:
                if not (keyword and _accepts_keyword(signature, keyword, False, args, kwargs)):
                    signature.bind(*placeholders, *args, **kwargs)
            except TypeError:
                shown = ", ".join(
                    ["engine", *event_args, *(repr(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())]
                )
                raise TypeError(
                    f"Handler {_describe(handler)} has parameters {_parameters(signature)} but will be called as "
                    f"handler({shown}). Give it a first parameter for the engine"
                    + (f", then {', '.join(event_args)}" if event_args else "")
                    + ", then parameters for the extra arguments passed to add_event_handler."
                ) from None
            takes_engine = False
    if keyword is not None:
        wants_keyword = signature is not None and _accepts_keyword(signature, keyword, takes_engine, args, kwargs)
        if takes_engine and wants_keyword:
            return lambda engine, value: handler(engine, *args, **kwargs, **{keyword: value})
        if takes_engine:
            return lambda engine, value: handler(engine, *args, **kwargs)
        if wants_keyword:
            return lambda engine, value: handler(*args, **kwargs, **{keyword: value})
        return lambda engine, value: handler(*args, **kwargs)
    if takes_engine and not args and not kwargs:
        return handler
    if takes_engine:
        return lambda engine, *values: handler(engine, *values, *args, **kwargs)
    return lambda engine, *values: handler(*values, *args, **kwargs)


def _accepts_keyword(
    signature: inspect.Signature, keyword: str, takes_engine: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> bool:
    """Whether a handler can also take ``keyword=value`` besides what it is called with anyway."""
    if keyword in kwargs:
        return False
    try:
        signature.bind(*([None] if takes_engine else []), *args, **kwargs, **{keyword: 0})
    except TypeError:
        return False
    return True


class RemovableEventHandle:
    """A handle that removes a handler from an engine; returned by ``add_event_handler``.

    It holds the engine and the handler weakly, so keeping the handle keeps neither alive.
    Use :meth:`remove`, or the handle as a context manager to attach a handler for one block::

        with engine.add_event_handler(Events.EPOCH_COMPLETED, print_epoch):
            engine.run(data)
        # print_epoch is detached again here
    """

    def __init__(self, event_name: Any, handler: Callable[..., Any], engine: Engine) -> None:
        self.event_name = event_name
        self.engine: weakref.ref[Engine] = weakref.ref(engine)
        self.handler: Callable[[], Callable[..., Any] | None]
        if inspect.ismethod(handler):
            self.handler = weakref.WeakMethod(handler)
        else:
            try:
                self.handler = weakref.ref(handler)
            except TypeError:  # objects that take no weak reference are held strongly
                self.handler = lambda: handler

    def remove(self) -> None:
        """Remove the handler from the engine; does nothing if either is gone or it was removed already."""
        engine, handler = self.engine(), self.handler()
        if engine is None or handler is None:
            return
        events = self.event_name if isinstance(self.event_name, EventsList) else [self.event_name]
        for event in events:
            if engine.has_event_handler(handler, event):
                engine.remove_event_handler(handler, event)

    def __enter__(self) -> RemovableEventHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


class RemovableWrapperHandle:
    """Returned by :meth:`Engine.add_handler_wrapper`; ``remove()`` takes the wrapper away again."""

    def __init__(self, engine: Engine, wrapper: HandlerWrapper) -> None:
        self.engine: weakref.ref[Engine] = weakref.ref(engine)
        self.wrapper = wrapper

    def remove(self) -> None:
        """Remove the wrapper; does nothing if the engine is gone or the wrapper was removed already."""
        engine = self.engine()
        if engine is not None and any(w is self.wrapper for w in engine._handler_wrappers):
            engine.remove_handler_wrapper(self.wrapper)


class _HandlerTable:
    """The handlers of an engine, ready to fire; the base of :class:`~ember.engine.Engine`.

    The engine's ``__init__`` sets the attributes declared here.
    """

    state: State
    logger: logging.Logger
    _event_counters: dict[Any, str]
    _allowed_events: set[Any]
    _dispatch: dict[Any, _Dispatch]
    _per_iteration: list[_Dispatch]
    _due: list[int]
    _trace: bool
    _handler_wrappers: tuple[HandlerWrapper, ...]
    _last_fired: tuple[Any, int]

    def _rewrap_handlers(self) -> None:
        for event, dispatch in list(self._dispatch.items()):
            self._set_dispatch(event, _Dispatch(tuple(self._wrapped_entry(event, e) for e in dispatch.entries)))

    def _wrapped_entry(self, event: Any, entry: _Entry) -> _Entry:
        call = entry.bound
        for wrapper in self._handler_wrappers:
            call = wrapper(event, entry.handler, call)
        return _Entry(entry.handler, entry.bound, entry.filter, call)

    def _set_dispatch(self, event: Any, dispatch: _Dispatch) -> None:
        if dispatch.entries:
            self._dispatch[event] = dispatch
        else:
            self._dispatch.pop(event, None)
        if event in _PER_ITERATION_EVENTS:
            slot = _PER_ITERATION_EVENTS.index(event)
            self._per_iteration[slot] = dispatch
            self._refresh_due(slot)

    def _refresh_due(self, slot: int) -> None:
        """Recompute when the loop must next look at the handlers of a per-iteration event."""
        if slot <= _GET_BATCH_COMPLETED and self.state.dataloader is None:
            self._due[slot] = NEVER  # without data there is no batch to get: GET_BATCH_* do not fire
        else:
            self._due[slot] = 0 if self._trace else self._per_iteration[slot].next_due(self.state.iteration)

    def _fire(self, event: Any, *values: Any) -> None:
        """Call the handlers of ``event`` whose filter passes; the general, not per-iteration, path."""
        self._last_fired = (event, self.state.iteration)
        if self._trace:
            self._log_event(event)
        dispatch = self._dispatch.get(event)
        if dispatch is None:
            return
        if dispatch.calls is not None:
            for call in dispatch.calls:
                call(self, *values)
        else:
            counter = self._event_counters.get(event)
            dispatch.call_due(self, getattr(self.state, counter, 0) if counter else 0, values)

    def _log_event(self, event: Any) -> None:
        state = self.state
        self.logger.debug("%s: epoch=%d iteration=%d", _event_label(event), state.epoch, state.iteration)


def _same_handler(registered: Callable[..., Any], handler: Callable[..., Any]) -> bool:
    return registered is handler or registered == handler


def _parameters(signature: inspect.Signature) -> str:
    """The parameter list of a signature, without its return annotation."""
    return str(signature.replace(return_annotation=inspect.Signature.empty))


def _event_label(event: Any) -> str:
    return f"{type(event).__name__}.{event.name}" if isinstance(event, Enum) else repr(event)
