"""The :class:`Engine`: runs a process function over data and fires events to handlers.

How dispatch stays cheap: every change to the handlers of an event rebuilds a small
:class:`_Dispatch` for it (a tuple of ready-to-call callables, plus the filters), and, for the four
events fired on every iteration, the next counter value at which any of their handlers is due.
The loop compares its iteration counter with those four numbers and calls nothing else unless one
is reached, so an iteration with no handler due costs a handful of comparisons, and a handler on
``ITERATION_COMPLETED(every=100)`` is not looked at on the 99 iterations where it does not fire.
"""

from __future__ import annotations

import enum
import inspect
import logging
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from ember.engine.events import (
    NEVER,
    AnyEvent,
    EventEnum,
    EventFilter,
    Events,
    EventsList,
    FilteredEvent,
)
from ember.engine.passes import DataPasses
from ember.engine.passes import length_of as _length_of
from ember.engine.saved_position import check_positive, parse_state_dict
from ember.engine.state import State

__all__ = ["Engine", "RemovableEventHandle", "RemovableWrapperHandle"]

ProcessFunction = Callable[["Engine", Any], Any]
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
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


class _Stop(enum.IntEnum):
    """The stop a user asked for; ``NONE`` is falsy so the loop tests it with one ``if``.

    Ordered by precedence, as in pytorch-ignite: a requested ``terminate()`` wins over
    ``terminate_epoch()``, which wins over ``interrupt()``. Whether the ``COMPLETED`` /
    ``EPOCH_COMPLETED`` that follows ``RUN`` / ``EPOCH`` is skipped is the engine's
    ``_skip_completed`` flag, set with the request.
    """

    NONE = 0
    INTERRUPT = 1
    EPOCH = 2
    RUN = 3


class _Phase(enum.Enum):
    """Where the engine is in its life; decides what the next ``run()`` does."""

    FRESH = "fresh"  # never ran, or state.max_epochs/max_iters reset: run() starts a new run
    RUNNING = "running"
    INTERRUPTED = "interrupted"  # interrupt(): run() continues with what would have come next
    TERMINATED = "terminated"  # terminate(): run() continues with the next epoch
    FINISHED = "finished"  # reached its end: run() starts anew, or continues to a larger limit
    FAILED = "failed"  # an exception ended it: run() continues from where it stopped
    LOADED = "loaded"  # load_state_dict(): run() resumes from the saved position


class _Next(enum.Enum):
    """What the loop does next within the run (where an interrupted run goes on)."""

    EPOCH = "epoch"  # start a new epoch (EPOCH_STARTED)
    BATCH = "batch"  # fire GET_BATCH_STARTED, then fetch the next batch
    FETCH = "fetch"  # GET_BATCH_STARTED has fired already: fetch the next batch
    COUNT = "count"  # GET_BATCH_COMPLETED has fired: count the fetched batch's iteration, process it
    PROCESS = "process"  # ITERATION_STARTED has fired: process the batch
    ITERATION_END = "iteration_end"  # an iteration has ended: end the epoch (or run) if it was the last, else BATCH


# Where an interrupted run goes on after each per-iteration event.
_NEXT_AFTER = (_Next.FETCH, _Next.COUNT, _Next.PROCESS, _Next.ITERATION_END)


class _StopSignal(Exception):
    """Carries an honoured stop request from the point it is seen to the loop level that acts on it."""

    def __init__(self, kind: _Stop, skip_completed: bool = False) -> None:
        super().__init__(kind.name)
        self.kind = kind
        self.skip_completed = skip_completed


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

    def call_due(self, engine: Engine, count: int, values: tuple[Any, ...]) -> None:
        """Call the handlers whose filter passes at ``count`` (unfiltered ones always): every event's filtered path."""
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


class Engine:
    """Runs ``process_function(engine, batch)`` over each batch of the data, firing events as it goes.

    Args:
        process_function: called once per iteration with the engine and the batch; what it returns
            is stored in ``engine.state.output``. Left out, each iteration's output is the batch itself.

    Example::

        def train_step(engine, batch):
            inputs, targets = batch
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            return loss.item()

        trainer = Engine(train_step)

        @trainer.on(Events.EPOCH_COMPLETED)
        def log(engine):
            print(engine.state.epoch, engine.state.output)

        trainer.run(data_loader, max_epochs=5)

    Attributes:
        state: the :class:`~ember.engine.State` of the current or last run.
        logger: the engine's logger; set it to ``DEBUG`` (before ``run``) to log every fired event.
        state_dict_user_keys: names of ``state`` attributes that :meth:`state_dict` saves as well.
    """

    #: pytorch-ignite's flag: interrupt() and resuming run() are always available here.
    interrupt_resume_enabled = True
    #: pytorch-ignite's names of the keys its state dict always has, and of the keys it has one of.
    _state_dict_all_req_keys = ("epoch_length", "iteration")
    _state_dict_one_of_opt_keys = (("max_epochs", "max_iters"),)

    def __init__(self, process_function: ProcessFunction | None = None) -> None:
        if process_function is None:
            process_function = _output_the_batch
        elif not callable(process_function):
            raise TypeError(
                f"process_function must be a callable (engine, batch) -> output, got {process_function!r} "
                f"({type(process_function).__name__})."
            )
        else:
            _check_process_function(process_function)
        self._process_function: ProcessFunction = process_function
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.state = State()
        self.state_dict_user_keys: list[str] = []
        self._event_counters: dict[Any, str] = self.state.event_to_attr  # one mapping, shared with the state
        self._allowed_events: set[Any] = set(Events)
        self._dispatch: dict[Any, _Dispatch] = {}
        self._per_iteration = [_EMPTY_DISPATCH] * 4
        self._due = [NEVER] * 4
        self._trace = False
        self._handler_wrappers: tuple[HandlerWrapper, ...] = ()
        self._stop = _Stop.NONE
        self._skip_completed = False  # terminate(skip_completed=True) / terminate_epoch(skip_epoch_completed=True)
        self._phase = _Phase.FRESH
        self._next = _Next.EPOCH
        self._last_fired: tuple[Any, int] = (None, 0)
        self._data_passes = DataPasses()
        self._epoch_base: int | None = None  # the iteration the current epoch's iterations count from
        self._init_iter: int | None = None  # iterations of the next epoch already run (pytorch-ignite's name)
        self._resume_position: int | None = 0  # batches of the data to skip when the next pass opens
        self._restarted_at = -1  # the iteration at which the last new pass over the data was opened
        self._interrupt_after_epoch = False
        self._loaded_native = False
        self._epoch_start_time = 0.0

    # ------------------------------------------------------------------ events and handlers

    def register_events(self, *event_names: EventEnum | str, event_to_attr: Mapping[Any, str] | None = None) -> None:
        """Allow custom events to be fired and handled on this engine (and only on this one).

        Args:
            *event_names: members of an :class:`~ember.engine.EventEnum` subclass (which can take
                filters), members of any other ``Enum``, or strings.
            event_to_attr: maps some of these events to the name of a counter attribute on
                ``engine.state``; filters such as ``every=`` on those events count that attribute.
                The attribute is created with value 0; the code that fires the event advances it.

        Example::

            class TBPTTEvents(EventEnum):
                TIME_ITERATION_STARTED = "time_iteration_started"
                TIME_ITERATION_COMPLETED = "time_iteration_completed"

            counters = {e: "time_iteration" for e in TBPTTEvents}
            engine.register_events(*TBPTTEvents, event_to_attr=counters)
        """
        for event in event_names:
            if isinstance(event, (Events, FilteredEvent)) or not isinstance(event, (Enum, str)):
                raise TypeError(
                    f"register_events takes members of an EventEnum (or Enum) subclass or strings, got {event!r} "
                    f"({type(event).__name__}). Built-in Events are always registered."
                )
            self._allowed_events.add(event)
        if event_to_attr is not None and not isinstance(event_to_attr, Mapping):
            raise TypeError(
                "event_to_attr must be a dict mapping each event to a state attribute name, got "
                f"{type(event_to_attr).__name__}: {event_to_attr!r}. Pass e.g. event_to_attr={{MyEvents.STEP: 'step'}}."
            )
        for event, attribute in (event_to_attr or {}).items():
            # as in pytorch-ignite, only the entries of the events named in this call are used: frameworks
            # register one event at a time with one mapping shared by all
            if not any(event is name or (isinstance(name, str) and event == name) for name in event_names):
                continue
            if not isinstance(attribute, str) or not attribute.isidentifier():
                raise TypeError(f"event_to_attr values must be attribute names, got {attribute!r} for {event!r}.")
            self._event_counters[event] = attribute
            if not hasattr(self.state, attribute):
                setattr(self.state, attribute, 0)

    def has_registered_events(self, event: Any) -> bool:
        """Whether ``event`` may be fired and handled on this engine."""
        try:
            return event in self._allowed_events
        except TypeError:
            return False

    def add_event_handler(
        self, event_name: AnyEvent | EventsList, handler: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> RemovableEventHandle:
        """Call ``handler(engine, *args, **kwargs)`` each time ``event_name`` fires.

        Args:
            event_name: a built-in or registered event, a filtered event (``Events.X(every=10)``),
                or several joined with ``|``.
            handler: the callable; its first parameter receives the engine (a handler with no
                parameter for the engine is called without it). ``EXCEPTION_RAISED`` handlers
                receive the exception after the engine.
            *args, **kwargs: passed to the handler after the engine.

        Handlers of one event run in the order they were added. The handler's signature, the event
        and the filter are checked now, so misuse fails here rather than in the middle of a run.

        Returns:
            A :class:`RemovableEventHandle` that detaches the handler again.

        Example::

            def print_epoch(engine):
                print(f"Epoch: {engine.state.epoch}")

            engine.add_event_handler(Events.EPOCH_COMPLETED, print_epoch)
        """
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r} ({type(handler).__name__}).")
        events = list(event_name) if isinstance(event_name, EventsList) else [event_name]
        prepared = []
        for event in events:
            base, event_filter = self._resolve_event(event)
            bound = _bind_handler(handler, base, args, kwargs)
            prepared.append((base, self._wrapped_entry(base, _Entry(handler, bound, event_filter))))
        for base, entry in prepared:
            current = self._dispatch.get(base, _EMPTY_DISPATCH)
            self._set_dispatch(base, _Dispatch((*current.entries, entry)))
        return RemovableEventHandle(event_name, handler, self)

    def on(self, event_name: AnyEvent | EventsList, *args: Any, **kwargs: Any) -> Callable[[HandlerT], HandlerT]:
        """Decorator form of :meth:`add_event_handler`; returns the function unchanged.

        Example::

            @engine.on(Events.ITERATION_COMPLETED(every=100))
            def log_loss(engine):
                print(engine.state.iteration, engine.state.output)
        """

        def decorator(handler: HandlerT) -> HandlerT:
            self.add_event_handler(event_name, handler, *args, **kwargs)
            return handler

        return decorator

    def has_event_handler(self, handler: Callable[..., Any], event_name: Any = None) -> bool:
        """Whether ``handler`` is attached to ``event_name`` (to any event when ``event_name`` is None)."""
        if event_name is None:
            dispatches: Iterable[_Dispatch] = self._dispatch.values()
        else:
            base = event_name.event if isinstance(event_name, FilteredEvent) else event_name
            dispatches = [self._dispatch.get(base, _EMPTY_DISPATCH)]
        return any(_same_handler(entry.handler, handler) for d in dispatches for entry in d.entries)

    def event_handler_count(self, handler: Callable[..., Any], event_name: Any) -> int:
        """How many times ``handler`` is attached to ``event_name`` (a handler that must run once per event checks it).

        >>> engine = Engine(lambda engine, batch: None)
        >>> def log(engine): ...
        >>> _ = engine.add_event_handler(Events.EPOCH_COMPLETED, log)
        >>> engine.event_handler_count(log, Events.EPOCH_COMPLETED)
        1
        """
        base = event_name.event if isinstance(event_name, FilteredEvent) else event_name
        entries = self._dispatch.get(base, _EMPTY_DISPATCH).entries
        return sum(_same_handler(entry.handler, handler) for entry in entries)

    def remove_event_handler(self, handler: Callable[..., Any], event_name: Any) -> None:
        """Detach every registration of ``handler`` on ``event_name``.

        Raises:
            ValueError: if the handler is not attached to that event.
        """
        base = event_name.event if isinstance(event_name, FilteredEvent) else event_name
        current = self._dispatch.get(base, _EMPTY_DISPATCH)
        kept = tuple(entry for entry in current.entries if not _same_handler(entry.handler, handler))
        if len(kept) == len(current.entries):
            raise ValueError(
                f"Handler {_describe(handler)} is not attached to {_event_label(base)}, so it cannot be removed. "
                "Check has_event_handler(handler, event) first, or remove it from the event it was added to."
            )
        self._set_dispatch(base, _Dispatch(kept))

    def fire_event(self, event_name: Any) -> None:
        """Run the handlers of ``event_name`` now.

        The engine fires the built-in events itself; call this for custom events registered with
        :meth:`register_events`, typically from the process function. Share data with the handlers
        through ``engine.state``.
        """
        try:
            has_handlers = event_name in self._dispatch
            registered = has_handlers or event_name in self._allowed_events
        except TypeError:  # unhashable: certainly not an event
            has_handlers = registered = False
        if not registered:
            raise ValueError(
                f"Cannot fire {event_name!r}: it is not an event registered on this engine. "
                "Fire a plain event (not a filtered one) after engine.register_events(...)."
            )
        if has_handlers or self._trace:
            self._fire(event_name)
        else:
            self._last_fired = (event_name, self.state.iteration)

    def _fire_event(self, event_name: Any, *event_args: Any, **event_kwargs: Any) -> None:
        """Run the handlers of ``event_name``, passing ``event_args`` after the engine: pytorch-ignite's method.

        Frameworks built on ignite call it from their ``Engine`` subclasses; prefer :meth:`fire_event`.

        Raises:
            TypeError: keyword arguments, which ember's handlers of an event do not receive.
        """
        if event_kwargs:
            raise TypeError(
                f"_fire_event got keyword arguments {sorted(event_kwargs)}; ember passes only positional event "
                "arguments to handlers. Pass them positionally, or share them through engine.state."
            )
        if not event_args or not self.has_registered_events(event_name):
            self.fire_event(event_name)  # also raises the error that names an unregistered event
        else:
            self._fire(event_name, *event_args)

    def add_handler_wrapper(self, wrapper: HandlerWrapper) -> RemovableWrapperHandle:
        """Route every handler call of this engine through ``wrapper``, beside any wrappers already added.

        ``wrapper(event, handler, call)`` receives the base event, the handler as it was registered
        and the callable the engine would invoke (``call(engine, *event_values)``), and returns the
        callable to invoke instead. It applies to the handlers attached now and to those attached
        later, for profilers and tracers that must time or observe each handler. Several wrappers
        nest in the order they were added (the first added is the innermost). Filters are
        unaffected: a wrapped handler is still skipped on counts where it does not fire.

        Returns:
            A handle whose ``remove()`` takes this wrapper away again (the others stay).

        Example::

            def timed(event, handler, call):
                def run(engine, *values):
                    start = time.perf_counter()
                    call(engine, *values)
                    durations[handler] += time.perf_counter() - start
                return run

            handle = engine.add_handler_wrapper(timed)
            ...
            handle.remove()
        """
        if not callable(wrapper):
            raise TypeError(f"wrapper must be callable (event, handler, call) -> call, got {wrapper!r}.")
        self._handler_wrappers = (*self._handler_wrappers, wrapper)
        self._rewrap_handlers()
        return RemovableWrapperHandle(self, wrapper)

    def remove_handler_wrapper(self, wrapper: HandlerWrapper) -> None:
        """Take away a wrapper added with :meth:`add_handler_wrapper`.

        Raises:
            ValueError: ``wrapper`` was not added to this engine.
        """
        if not any(w is wrapper for w in self._handler_wrappers):
            raise ValueError(
                f"{wrapper!r} is not a handler wrapper of this engine, so it cannot be removed. "
                "Remove it with the handle add_handler_wrapper returned, once."
            )
        self._handler_wrappers = tuple(w for w in self._handler_wrappers if w is not wrapper)
        self._rewrap_handlers()

    def set_handler_wrapper(self, wrapper: HandlerWrapper | None) -> None:
        """Make ``wrapper`` the only handler wrapper of this engine; ``None`` removes every wrapper.

        Prefer :meth:`add_handler_wrapper`, which leaves the wrappers of other tools (a profiler, a
        tracer) in place.
        """
        if wrapper is not None and not callable(wrapper):
            raise TypeError(f"wrapper must be callable (event, handler, call) -> call or None, got {wrapper!r}.")
        self._handler_wrappers = () if wrapper is None else (wrapper,)
        self._rewrap_handlers()

    def _rewrap_handlers(self) -> None:
        for event, dispatch in list(self._dispatch.items()):
            self._set_dispatch(event, _Dispatch(tuple(self._wrapped_entry(event, e) for e in dispatch.entries)))

    def _wrapped_entry(self, event: Any, entry: _Entry) -> _Entry:
        call = entry.bound
        for wrapper in self._handler_wrappers:
            call = wrapper(event, entry.handler, call)
        return _Entry(entry.handler, entry.bound, entry.filter, call)

    def _resolve_event(self, event: Any) -> tuple[Any, EventFilter | None]:
        """Split an event into its base event and filter, rejecting unknown events and uncountable filters."""
        base, event_filter = (event.event, event.filter) if isinstance(event, FilteredEvent) else (event, None)
        if not self.has_registered_events(base):
            if isinstance(base, (Enum, str)):
                raise ValueError(
                    f"{_event_label(base)} is not registered on this engine. Register custom events first with "
                    f"engine.register_events(...), e.g. engine.register_events(*{type(base).__name__})"
                    if isinstance(base, Enum)
                    else f"Event {base!r} is not registered on this engine. "
                    f"Call engine.register_events({base!r}) first."
                )
            raise TypeError(
                f"Expected an event (a member of Events or of a registered EventEnum, a registered string, a filtered "
                f"event or several joined with '|'), got {event!r} ({type(event).__name__})."
            )
        if event_filter is not None and event_filter.is_every_count():
            event_filter = None  # every=1 is the event itself, as in pytorch-ignite
        if event_filter is not None and base not in self._event_counters:
            raise ValueError(
                f"{_event_label(base)} has no counter, so it cannot take a filter ({event_filter!r}). Filters work on "
                "iteration and epoch events, and on custom events registered with an event_to_attr counter."
            )
        return base, event_filter

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

    # ------------------------------------------------------------------ firing

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

    def _fire_per_iteration(self, slot: int, count: int) -> None:
        """Fire a per-iteration event whose due count was reached, then move its due count on."""
        dispatch = self._per_iteration[slot]
        self._last_fired = (_PER_ITERATION_EVENTS[slot], self.state.iteration)
        if self._trace:
            self._log_event(_PER_ITERATION_EVENTS[slot])
        if dispatch.calls is not None:
            for call in dispatch.calls:
                call(self)
        else:
            dispatch.call_due(self, count, ())
            if self._per_iteration[slot] is dispatch:  # unless a handler changed the handlers
                # GET_BATCH_STARTED may fire twice at one count (the data ran out at an epoch's end)
                self._due[slot] = 0 if self._trace else dispatch.next_due(count + (slot != _GET_BATCH_STARTED))
        if self._stop:
            self._next = _NEXT_AFTER[slot]
            self._raise_stop()

    def _fire_and_check(self, event: Any) -> None:
        self._fire(event)
        if self._stop:
            self._raise_stop()

    def _fire_starting_event(self, event: Any) -> None:
        """Fire ``STARTED`` / ``EPOCH_STARTED``, where ``terminate_epoch()`` has no epoch to end (as pytorch-ignite)."""
        self._fire(event)
        if self._stop is _Stop.EPOCH:
            self._stop = _Stop.NONE
            self._interrupt_after_epoch = False
            raise _misplaced_terminate_epoch(f"a handler of {event.name}")
        if self._stop:
            self._raise_stop()

    def _log_event(self, event: Any) -> None:
        state = self.state
        self.logger.debug("%s: epoch=%d iteration=%d", _event_label(event), state.epoch, state.iteration)

    # ------------------------------------------------------------------ stopping

    def terminate(self, skip_completed: bool = False) -> None:
        """Stop the run once the handlers of the current event have finished.

        Then ``TERMINATE`` and ``COMPLETED`` fire (``COMPLETED`` not with ``skip_completed=True``),
        and :meth:`run` returns. ``EPOCH_COMPLETED`` is not fired for the epoch that was cut short.
        A later :meth:`run` continues the run with the next epoch, as in pytorch-ignite.
        """
        self._stop, self._skip_completed = _Stop.RUN, skip_completed

    def terminate_epoch(self, skip_epoch_completed: bool = False) -> None:
        """End the current epoch once the handlers of the current event have finished.

        Then ``TERMINATE_SINGLE_EPOCH`` and ``EPOCH_COMPLETED`` fire (``EPOCH_COMPLETED`` not with
        ``skip_epoch_completed=True``) and the next epoch begins with a new pass over the data.
        Call it from the process function, from a handler of an iteration event, or from
        ``EPOCH_COMPLETED``, where it does nothing more.

        Raises:
            RuntimeError: called while no epoch runs, or from ``STARTED`` / ``EPOCH_STARTED``
                (the epoch has not begun; there is nothing to end yet).
        """
        if self._phase is not _Phase.RUNNING:
            raise _misplaced_terminate_epoch("outside a run")
        if self._stop is _Stop.RUN:
            return  # the run stops anyway (terminate() takes precedence, as in pytorch-ignite)
        if self._stop is _Stop.INTERRUPT:
            self._interrupt_after_epoch = True
        self._stop, self._skip_completed = _Stop.EPOCH, skip_epoch_completed

    def interrupt(self) -> None:
        """Pause the run once the handlers of the current event have finished; ``run()`` resumes it.

        ``INTERRUPT`` fires and :meth:`run` returns the state. The next :meth:`run` call continues
        where the run stopped: right after the event it was asked for in, from the same data iterator.
        Asked for together with ``terminate_epoch()``, it pauses once that epoch has ended.
        """
        if self._stop is _Stop.EPOCH:
            self._interrupt_after_epoch = True
        elif self._stop is _Stop.NONE:
            self._stop = _Stop.INTERRUPT

    @property
    def should_terminate(self) -> bool | str:
        """Whether :meth:`terminate` was asked for (``"skip_completed"`` for its quiet form), or ended the last run.

        Setting it to ``True`` asks for the stop as :meth:`terminate` does; ``False`` withdraws it.
        """
        if self._stop is _Stop.RUN:
            return "skip_completed" if self._skip_completed else True
        return self._phase is _Phase.TERMINATED

    @should_terminate.setter
    def should_terminate(self, value: bool | str) -> None:
        if value:
            self.terminate(skip_completed=value == "skip_completed")
        elif self._stop is _Stop.RUN:
            self._stop = _Stop.NONE

    @property
    def should_terminate_single_epoch(self) -> bool | str:
        """Whether :meth:`terminate_epoch` was asked for (``"skip_epoch_completed"`` for its quiet form).

        Setting it to ``True`` asks for the stop as :meth:`terminate_epoch` does; ``False`` withdraws it.
        """
        if self._stop is _Stop.EPOCH:
            return "skip_epoch_completed" if self._skip_completed else True
        return False

    @should_terminate_single_epoch.setter
    def should_terminate_single_epoch(self, value: bool | str) -> None:
        if value:
            self.terminate_epoch(skip_epoch_completed=value == "skip_epoch_completed")
        elif self._stop is _Stop.EPOCH:
            self._stop = _Stop.NONE

    @property
    def should_interrupt(self) -> bool:
        """Whether :meth:`interrupt` was asked for; setting ``True`` asks for it."""
        return self._stop is _Stop.INTERRUPT or self._interrupt_after_epoch

    @should_interrupt.setter
    def should_interrupt(self, value: bool) -> None:
        if value:
            self.interrupt()
        else:
            self._interrupt_after_epoch = False
            if self._stop is _Stop.INTERRUPT:
                self._stop = _Stop.NONE

    @property
    def last_event_name(self) -> Any:
        """The event fired last (``None`` before the first run), as pytorch-ignite's attribute.

        Read from a handler, it is that handler's event; read from the process function, it is
        ``ITERATION_STARTED``. The engine derives it rather than writing it on every event, so it
        costs nothing on iterations where no handler is due.
        """
        event, iteration = self._last_fired
        if self._phase is _Phase.RUNNING and iteration < self.state.iteration:
            return Events.ITERATION_STARTED  # nothing fired since this iteration began
        return event

    def _raise_stop(self) -> None:
        kind, self._stop = self._stop, _Stop.NONE
        raise _StopSignal(kind, self._skip_completed)

    # ------------------------------------------------------------------ checkpointing

    @property
    def _state_dict_user_keys(self) -> list[str]:
        """pytorch-ignite's name of :attr:`state_dict_user_keys` (frameworks that subclass Engine read it)."""
        return self.state_dict_user_keys

    @_state_dict_user_keys.setter
    def _state_dict_user_keys(self, keys: list[str]) -> None:
        self.state_dict_user_keys = keys

    def state_dict(self) -> dict[str, Any]:
        """The engine's position, for checkpoints: counters, run length and ``state_dict_user_keys``.

        Keys: ``iteration``, ``epoch``, ``epoch_length``, ``max_epochs``, ``max_iters`` (one of the
        two is ``None``), ``epoch_completed`` (whether ``epoch`` had ended when saved),
        ``terminated`` (whether ``terminate()`` had ended, or was about to end, the run),
        ``data_position`` (how many batches into its pass over the data the next batch is),
        ``epoch_start_iteration`` (the iteration the current epoch started after),
        ``get_batch_started`` (whether ``GET_BATCH_STARTED`` had fired for the next batch) and each
        user key. They make a resume exact, wherever the state was saved.
        :meth:`load_state_dict` also reads pytorch-ignite's smaller dict.
        """
        state = self.state
        in_epoch = self._next is not _Next.EPOCH
        epoch_base = self._epoch_base if self._epoch_base is not None else state.iteration - (self._init_iter or 0)
        fetched = self._next in (_Next.COUNT, _Next.PROCESS)  # the batch is refetched on resume
        iterator_open = self._data_passes.iterator is not None
        saved: dict[str, Any] = {
            "iteration": state.iteration,
            "epoch": state.epoch,
            "epoch_length": state.epoch_length,
            "max_epochs": state.max_epochs,
            "max_iters": state.max_iters,
            "epoch_completed": not in_epoch,
            "terminated": self._phase is _Phase.TERMINATED or self._stop is _Stop.RUN,
            "data_position": self._data_passes.position(state.iteration) - fetched if iterator_open else 0,
            "epoch_start_iteration": epoch_base if in_epoch else state.iteration,
            "get_batch_started": self._next is _Next.FETCH,
        }
        for key in self.state_dict_user_keys:
            if not hasattr(state, key):
                raise AttributeError(
                    f"state_dict_user_keys names {key!r}, but engine.state has no attribute {key!r}. "
                    "Set it on engine.state before saving, or remove it from state_dict_user_keys."
                )
            saved[key] = getattr(state, key)
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`; the next :meth:`run` resumes from it.

        Also accepts pytorch-ignite's format: ``epoch_length``, exactly one of ``iteration`` and
        ``epoch``, exactly one of ``max_epochs`` and ``max_iters``, and the user keys. Such a dict
        resumes as pytorch-ignite resumes it: ``state.epoch`` counts the completed epochs, a partly
        run epoch starts again with ``EPOCH_STARTED`` and runs its remaining iterations, and a
        complete run starts afresh on ``run()``.

        ember's own dict resumes exactly where the saving engine stood: a partly run epoch gets no
        second ``EPOCH_STARTED`` and its data is positioned at the next batch; a run that
        ``terminate()`` had ended continues with the next epoch. A loaded run that had reached its
        end runs nothing on ``run()`` and warns, unless a larger ``max_epochs`` / ``max_iters`` is
        passed (set ``engine.state.max_epochs = None`` to start afresh).

        It may be called between runs, or from a ``STARTED`` handler (the run then continues from
        the loaded position, as frameworks built on pytorch-ignite do to resume).

        Raises:
            ValueError: a key is missing or a value is out of range.
            TypeError: a value has the wrong type.
            RuntimeError: the engine is running, past its ``STARTED`` event.
        """
        running = self._phase is _Phase.RUNNING
        if running and self.last_event_name is not Events.STARTED:
            raise RuntimeError(
                f"load_state_dict() was called while the engine runs (at {_event_label(self.last_event_name)}); "
                "loading now would move the counters and the data under the running loop. Call it before run(), "
                "or from a STARTED handler, where the run then continues from the loaded position (e.g. "
                "Checkpoint.load_objects(...) before trainer.run(...)). To go back to a checkpoint in the middle "
                "of a run, call engine.terminate() here instead, then call load_state_dict() and run() again "
                "once run() has returned."
            )
        loaded = parse_state_dict(state_dict, self.state_dict_user_keys)
        if loaded.absent_user_keys:  # pytorch-ignite's dict of an engine without them (an ignite trainer's)
            kept = ", ".join(f"{key}={getattr(self.state, key, None)!r}" for key in loaded.absent_user_keys)
            warnings.warn(
                f"The state dict (pytorch-ignite's format) has no {list(loaded.absent_user_keys)}; engine.state "
                f"keeps its current values of them ({kept}).",
                UserWarning,
                stacklevel=2,
            )
        for name in ("iteration", "epoch", "epoch_length", "max_epochs", "max_iters"):
            setattr(self.state, name, getattr(loaded, name))
        for key, value in loaded.user_values.items():
            setattr(self.state, key, value)
        self._data_passes.close()
        self._epoch_base, self._restarted_at, self._interrupt_after_epoch = None, -1, False
        self._next, self._init_iter = _Next(loaded.next_step), loaded.iter_counter
        # pytorch-ignite's dict: the epoch restarts at iteration % epoch_length, on a new pass (see the hook)
        native = self._loaded_native = loaded.native
        self._resume_position = loaded.data_position if native else self._ignite_resume_position(loaded.iteration)
        if not running:
            # a run that terminate() had ended continues with the next epoch, as the engine that saved it would
            self._phase = _Phase.TERMINATED if loaded.terminated else _Phase.LOADED

    def _ignite_resume_position(self, iteration: int) -> int | None:
        """The first batch of the data after loading pytorch-ignite's dict: the start, as ignite's Engine does.

        ``None`` would mean ``iteration % len(data)`` (what pytorch-ignite's DeterministicEngine does).
        """
        return 0

    # ------------------------------------------------------------------ data

    def set_data(self, data: Iterable[Any]) -> None:
        """Take the next batches from ``data``: the next fetch takes its first batch.

        Works between runs and from a handler or the process function during a run. The epoch
        length is not changed. (Assigning ``engine.state.dataloader`` instead switches at the
        start of the next pass over the data, when the current one runs out.)

        Raises:
            TypeError: ``data`` is not iterable.
        """
        if not isinstance(data, Iterable):
            raise TypeError(
                f"set_data expects an iterable of batches (a list, a DataLoader, ...), got {type(data).__name__}."
            )
        self.state.dataloader = data
        self._data_passes.switch(data, self.state.iteration)
        self._refresh_data_due()

    def _refresh_data_due(self) -> None:
        for slot in (_GET_BATCH_STARTED, _GET_BATCH_COMPLETED):
            self._refresh_due(slot)

    def _open_pass(self, position: int = 0) -> None:
        """Start a new pass over ``state.dataloader`` (used from there on, as in pytorch-ignite)."""
        state = self.state
        self._data_passes.open(state.dataloader, state.iteration, state.epoch, position, self.logger)
        self._refresh_data_due()

    def _start_epoch_part(self) -> None:
        """Set up the counting of the epoch's iterations, opening a pass over the data if none is open.

        As in pytorch-ignite, a run's first epoch (resumed or not) opens a new pass and counts
        ``iteration % epoch_length`` iterations as run already; later epochs go on with the pass.
        """
        state = self.state
        if self._data_passes.iterator is None:
            position = self._resume_position
            length = _length_of(state.dataloader)
            if position is None:  # no saved position: the pass is where the iteration falls in it
                position = state.iteration % length if length else 0
            elif length:  # a pass used up when saved: a new one (drawing its shuffle once, as ignite's resume)
                position %= length
            self._resume_position = 0
            self._open_pass(position)
            if self._init_iter is None:
                self._init_iter = state.iteration % state.epoch_length if state.epoch_length else state.iteration
        self._epoch_base = state.iteration - (self._init_iter or 0)
        self._init_iter = None
        self._restarted_at = -1

    def _pass_ran_out(self) -> bool:
        """The pass over the data ended before the epoch did; returns whether the epoch ends here.

        Data without a length ends its first epoch here (the epoch length is learned). Otherwise
        ``DATALOADER_STOP_ITERATION`` fires and a new pass starts, unless the previous one was just
        started: then the data can give no more batches, and the epoch ends with a warning.
        """
        state = self.state
        restarted = self._restarted_at == state.iteration  # no batch came from the pass started last
        if state.epoch_length is None:
            epoch_length = state.iteration - (self._epoch_base or 0)
            if epoch_length == 0:
                message = (
                    "The data ran out before this epoch's first batch, so its length is taken as 0 and the run "
                    "does nothing more (as pytorch-ignite). Pass data with at least one batch, or epoch_length."
                )
                warnings.warn(message, UserWarning, stacklevel=6)
                self.logger.warning(message)
            state.epoch_length = epoch_length
            if state.max_iters is not None and epoch_length == 0:
                raise ValueError(
                    "The data ran out before this epoch's first batch, so no number of epochs reaches max_iters. "
                    "Pass data with at least one batch (pytorch-ignite divides by zero here)."
                )
            if state.max_iters is not None:  # as in pytorch-ignite
                state.max_epochs = -(-state.max_iters // epoch_length)
            return True
        if restarted:
            if not self._is_done():
                message = (
                    f"The data can provide no more batches (a new pass over it yielded nothing) at iteration "
                    f"{state.iteration}, before the run's end; the epoch ends here. Pass data that can be iterated "
                    "again (a list, a DataLoader) rather than an iterator, or a smaller max_epochs/max_iters."
                )
                warnings.warn(message, UserWarning, stacklevel=6)
                self.logger.warning(message)
            return True
        if state.dataloader is not None:
            self._fire(Events.DATALOADER_STOP_ITERATION)
        self._open_pass()
        self._restarted_at = state.iteration
        if self._stop:
            self._next = _Next.BATCH  # as in pytorch-ignite, a resumed run fires GET_BATCH_STARTED again
            self._raise_stop()
        return False

    # ------------------------------------------------------------------ running

    def run(
        self,
        data: Iterable[Any] | None = None,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        epoch_length: int | None = None,
    ) -> State:
        """Run the process function over ``data`` and return the final :class:`~ember.engine.State`.

        Args:
            data: an iterable of batches (list, DataLoader, generator, ...). It is iterated again
                each time it runs out. ``None`` runs ``epoch_length`` iterations with batch ``None``
                (the process function makes its own batches).
            max_epochs: how many epochs to run (default 1). Exclusive with ``max_iters``.
            max_iters: how many iterations to run in total; the last epoch may be partial.
            epoch_length: iterations per epoch. Defaults to ``len(data)``; for data without a
                length it is learned when the data first runs out, unless given.

        Calling ``run()`` on an engine that ran before follows pytorch-ignite's rules:

        - after a run that reached its end, the same (or no) ``max_epochs`` starts a new run (an
          evaluator is simply run again) at the first batch of ``data``; ``state.metrics``,
          ``output`` and ``batch`` keep their values until they are replaced; a larger
          ``max_epochs``/``max_iters`` continues the run to the new end; a smaller one than
          reached is a ``ValueError``;
        - after :meth:`terminate`, the run continues with the next epoch; after :meth:`interrupt`,
          with what would have come next, from the same data iterator (``data`` is then not
          used); after :meth:`load_state_dict`, from the loaded position;
        - ``engine.state.max_epochs = None`` (and ``max_iters``) forces a new run; switching
          between ``max_epochs`` and ``max_iters`` needs that reset.

        Each call logs one INFO line saying whether the run starts or resumes, where, and until what.

        Events fire in this order (a stop requested by a handler takes effect once all the handlers
        of the event it was requested in have run)::

            STARTED
            EPOCH_STARTED                    \\
              GET_BATCH_STARTED               |  per epoch
              GET_BATCH_COMPLETED             |    per iteration
              ITERATION_STARTED               |
              [process function]              |
              ITERATION_COMPLETED             |
            EPOCH_COMPLETED                  /
            COMPLETED

        - the data runs out: ``DATALOADER_STOP_ITERATION`` fires between ``GET_BATCH_STARTED`` and
          ``GET_BATCH_COMPLETED`` of the next fetch (for sized data that is used up at an epoch's
          end: in the next epoch), and the engine starts a new pass over the data. If that new pass
          yields nothing, a ``UserWarning`` is issued and the epoch ends there (each later epoch
          tries again). Data without a length ends its first epoch when it runs out (no event).
          With ``data=None`` no ``GET_BATCH_*`` or ``DATALOADER_STOP_ITERATION`` event fires.
        - ``max_iters`` reached within an epoch: ``TERMINATE`` and ``COMPLETED`` (as ``terminate()``).
        - ``terminate()``: ... event where called, ``TERMINATE``, ``COMPLETED`` (not with
          ``skip_completed=True``); no further ``EPOCH_COMPLETED``.
        - ``terminate_epoch()``: ... event where called, ``TERMINATE_SINGLE_EPOCH``,
          ``EPOCH_COMPLETED`` (not with ``skip_epoch_completed=True``), then the next epoch, on a
          new pass over the data.
        - ``interrupt()``: ... event where called, ``INTERRUPT``, and ``run()`` returns. The next
          ``run()`` continues with what would have come next (``STARTED`` is not fired again).
        - an exception in the process function, a handler or the data: ``EXCEPTION_RAISED``
          (every handler is called, even if one of them fails), then the exception propagates out
          of ``run()`` unchanged -- unless a handler called ``terminate()`` or ``interrupt()``:
          then it has handled the exception, no further event fires, and ``run()`` returns the
          state of a terminated (interrupted) run. ``KeyboardInterrupt`` too.
        - resuming from :meth:`load_state_dict`: ``STARTED``, then the run continues from the
          loaded position (see there).

        A resume in the middle of an epoch from ember's own state dict positions the data at the
        next batch: if ``data`` has a method ``iter_from(position)``, the engine calls it to get an
        iterator starting at that batch of the current pass; otherwise it fetches and discards the
        batches before it. When a pass starts, a ``set_epoch(epoch - 1)`` method of the data's
        ``sampler`` or ``batch_sampler`` (a ``DistributedSampler``) is called, so each epoch is
        shuffled anew.

        Raises:
            TypeError / ValueError: for arguments that cannot describe a run (the message says why).
            RuntimeError: if the engine is already running.
        """
        for name, value in (("max_epochs", max_epochs), ("max_iters", max_iters), ("epoch_length", epoch_length)):
            check_positive(name, value)
        if max_epochs is not None and max_iters is not None:
            raise ValueError(
                f"max_epochs and max_iters are exclusive, got max_epochs={max_epochs} and max_iters={max_iters}. "
                "Pass only one of them."
            )
        if self._phase is _Phase.RUNNING:
            raise RuntimeError("run() was called while this engine is already running. Wait for the run to return.")
        if data is not None and not isinstance(data, Iterable):
            raise TypeError(
                f"data must be an iterable of batches (a list, a DataLoader, a generator, ...), got "
                f"{type(data).__name__}. Pass data=None with epoch_length to run without data."
            )
        state = self.state
        self._check_new_limits(max_epochs, max_iters)
        old_limits = (state.max_epochs or 0, state.max_iters or 0)
        if state.max_epochs is not None and max_epochs is not None:
            state.max_epochs = max_epochs
        if state.max_iters is not None and max_iters is not None:
            state.max_iters = max_iters
        phase = self._phase
        pending = phase is _Phase.INTERRUPTED or self._next is not _Next.EPOCH
        if state.max_epochs is None and state.max_iters is None:
            phase = _Phase.FRESH
        elif self._is_done() and not pending:
            raised = (state.max_epochs or 0, state.max_iters or 0) > old_limits
            if phase is _Phase.LOADED and self._loaded_native and not raised:
                message = (
                    f"The loaded run is already complete (iteration {state.iteration}, epoch {state.epoch}); "
                    "nothing to run. Pass a larger max_epochs or max_iters to train for longer, or set "
                    "engine.state.max_epochs = None to start a new run. (pytorch-ignite would start a new run.)"
                )
                warnings.warn(message, UserWarning, stacklevel=2)
                self.logger.warning(message)
                return state
            phase = _Phase.FRESH
        if phase is _Phase.FRESH:
            if self._phase is _Phase.INTERRUPTED:  # the paused run is given up, and its pass with it
                self._data_passes.close()
            self._prepare_new_run(data, max_epochs, max_iters, epoch_length)
            self.logger.info("Engine run starting: %s.", self._limit_text())
        else:
            self._prepare_resume(data, epoch_length, terminated=phase is _Phase.TERMINATED)
            self.logger.info(
                "Engine run %s at iteration %d, epoch %d: %s.",
                "continuing after interrupt()" if phase is _Phase.INTERRUPTED else "resuming",
                state.iteration,
                state.epoch,
                self._limit_text(),
            )
        if self._data_passes.iterator is None:
            state.dataloader = data
            self._refresh_data_due()
        return self._run_loop(fire_started=phase is not _Phase.INTERRUPTED)

    def _check_new_limits(self, max_epochs: int | None, max_iters: int | None) -> None:
        state = self.state
        if max_iters is not None and state.max_epochs is not None:
            raise ValueError(
                f"This engine's run is limited by max_epochs={state.max_epochs}, so run() cannot switch to "
                f"max_iters={max_iters}. Set engine.state.max_epochs = None before run() to start a new run "
                "limited by max_iters."
            )
        if max_epochs is not None and state.max_iters is not None:
            raise ValueError(
                f"This engine's run is limited by max_iters={state.max_iters}, so run() cannot switch to "
                f"max_epochs={max_epochs}. Set engine.state.max_iters = None before run() to start a new run "
                "limited by max_epochs."
            )
        if state.max_epochs is not None and max_epochs is not None and max_epochs < state.epoch:
            raise ValueError(
                f"max_epochs={max_epochs} is smaller than the epoch this engine already reached ({state.epoch}). "
                f"Pass max_epochs >= {state.epoch} to continue the run, or set engine.state.max_epochs = None "
                "before run() to start a new one."
            )
        if state.max_iters is not None and max_iters is not None and max_iters < state.iteration:
            raise ValueError(
                f"max_iters={max_iters} is smaller than the iteration this engine already reached "
                f"({state.iteration}). Pass max_iters >= {state.iteration} to continue the run, or set "
                "engine.state.max_iters = None before run() to start a new one."
            )

    def _limit_text(self) -> str:
        state = self.state
        limit = f"max_iters={state.max_iters}" if state.max_iters is not None else f"max_epochs={state.max_epochs}"
        return f"{limit}, epoch_length={state.epoch_length}"

    def _prepare_new_run(
        self, data: Iterable[Any] | None, max_epochs: int | None, max_iters: int | None, epoch_length: int | None
    ) -> None:
        state = self.state
        if data is None and epoch_length is None and state.epoch_length is None:
            raise ValueError(
                "run() without data needs epoch_length, the number of iterations per epoch, e.g. "
                "engine.run(epoch_length=100). Or pass the data to iterate over."
            )
        if epoch_length is None:
            epoch_length = _length_of(data)
            if epoch_length == 0:
                raise ValueError(
                    f"data is empty ({type(data).__name__} of length 0): there is nothing to run. "
                    "Pass data with at least one batch."
                )
            if epoch_length is None:  # as in pytorch-ignite, a new run keeps the epoch length it knew
                epoch_length = state.epoch_length
                if epoch_length == 0:
                    raise ValueError(
                        "The previous run found no batch in its data (epoch_length 0), and this data has no length. "
                        "Pass data with at least one batch, or epoch_length."
                    )
        # as in pytorch-ignite, output, batch and metrics carry over: a trainer-side handler may read the
        # metrics of the evaluator's previous run
        state.iteration = state.epoch = 0
        state.epoch_length = epoch_length
        state.max_iters = max_iters
        state.max_epochs = (max_epochs or 1) if max_iters is None else None
        self._next = _Next.EPOCH
        self._epoch_base = self._init_iter = None
        self._resume_position = 0
        self._loaded_native = False

    def _prepare_resume(self, data: Iterable[Any] | None, epoch_length: int | None, terminated: bool) -> None:
        state = self.state
        if state.epoch_length is not None:
            if epoch_length is not None and epoch_length != state.epoch_length:
                raise ValueError(
                    f"epoch_length={epoch_length} differs from the resumed run's epoch_length={state.epoch_length}. "
                    "Leave epoch_length out when resuming (or pass the same value)."
                )
        else:
            if epoch_length is None and data is not None:
                epoch_length = _length_of(data)
                if epoch_length == 0:
                    raise ValueError(
                        f"data is empty ({type(data).__name__} of length 0): there is nothing to run. "
                        "Pass data with at least one batch."
                    )
            state.epoch_length = epoch_length
        if state.epoch_length is None and data is None and self._data_passes.iterator is None:
            raise ValueError("Resuming a run needs its data (or epoch_length for a run without data).")
        if terminated:  # the next epoch starts at its first iteration, as in pytorch-ignite
            self._init_iter = 0

    def _is_done(self) -> bool:
        """Whether the counters reached the run's limits (pytorch-ignite's rule)."""
        state = self.state
        if state.max_iters is not None and state.iteration >= state.max_iters:
            return True
        if state.max_epochs is None:
            return False
        if state.epoch_length is not None and state.iteration >= state.epoch_length * state.max_epochs:
            return True
        return state.epoch >= state.max_epochs

    def _run_loop(self, fire_started: bool) -> State:
        state = self.state
        self._phase = _Phase.RUNNING
        if fire_started:
            self._stop = _Stop.NONE
            self._interrupt_after_epoch = False
        self._trace = self.logger.isEnabledFor(logging.DEBUG)
        for slot in range(4):
            self._refresh_due(slot)
        run_start = time.perf_counter()
        if self._next is not _Next.EPOCH:  # resuming within an epoch: time the rest of it
            self._epoch_start_time = run_start
        try:
            try:
                if fire_started:
                    state.times = {"EPOCH_COMPLETED": None, "COMPLETED": None}
                    self._fire_starting_event(Events.STARTED)
                while self._next is not _Next.EPOCH or not self._is_done():
                    self._run_epoch()
            except _StopSignal as signal:
                if signal.kind is _Stop.INTERRUPT:
                    self._phase = _Phase.INTERRUPTED
                    self._fire(Events.INTERRUPT)
                    return state
                self._phase = _Phase.TERMINATED
                self._next = _Next.EPOCH
                self._data_passes.close()
                self._fire(Events.TERMINATE)
                if signal.skip_completed:
                    return state
            else:
                self._phase = _Phase.FINISHED
            self._data_passes.close()  # a later run starts a new pass over its data, as in pytorch-ignite
            state.times["COMPLETED"] = time.perf_counter() - run_start
            self._fire(Events.COMPLETED)
            state.times["COMPLETED"] = elapsed = time.perf_counter() - run_start
            self.logger.info(
                "Engine run finished at iteration %d, epoch %d, in %.3f s.", state.iteration, state.epoch, elapsed
            )
            return state
        except (Exception, KeyboardInterrupt) as error:
            self._phase = _Phase.FAILED
            self._keep_position_after_failure()
            if not self._handle_exception(error):
                raise
            return state
        finally:
            if self._phase is _Phase.RUNNING:
                self._phase = _Phase.FINISHED
            if self._phase is not _Phase.INTERRUPTED:
                self._stop = _Stop.NONE

    def _run_epoch(self) -> None:
        """Run (the rest of) one epoch: EPOCH_STARTED, its iterations, EPOCH_COMPLETED."""
        state = self.state
        skip_completed = False
        try:
            if self._next is _Next.EPOCH:
                state.epoch += 1
                self._epoch_start_time = time.perf_counter()
                self._next = _Next.BATCH
                self._epoch_base = None
                self._fire_starting_event(Events.EPOCH_STARTED)
            if self._epoch_base is None:
                self._start_epoch_part()
            self._run_iterations()
        except _StopSignal as signal:
            if signal.kind is not _Stop.EPOCH:
                raise
            skip_completed = signal.skip_completed
            self._next = _Next.EPOCH
            self._fire(Events.TERMINATE_SINGLE_EPOCH, state.iteration - (self._epoch_base or 0))
            self._open_pass()  # as in pytorch-ignite, the next epoch starts a new pass over the data
        self._next = _Next.EPOCH
        self._epoch_base = None
        state.times["EPOCH_COMPLETED"] = time.perf_counter() - self._epoch_start_time
        if not skip_completed:
            self._fire(Events.EPOCH_COMPLETED)
            state.times["EPOCH_COMPLETED"] = time.perf_counter() - self._epoch_start_time
        if self._stop is _Stop.EPOCH:
            self._stop = _Stop.NONE  # asked for at the end of an epoch: that epoch is over anyway
        if self._interrupt_after_epoch:
            self._interrupt_after_epoch = False
            if not self._stop:
                self._stop = _Stop.INTERRUPT
        self.logger.info("Epoch %d complete in %.3f s.", state.epoch, state.times["EPOCH_COMPLETED"])
        if self._stop:
            self._raise_stop()

    def _run_iterations(self) -> None:
        """Run the iterations of the current epoch; returns when the epoch's last one is done."""
        state = self.state
        due = self._due
        fire = self._fire_per_iteration
        process = self._process_function
        passes = self._data_passes
        epoch_length = state.epoch_length
        base = self._epoch_base or 0
        end = NEVER if epoch_length is None else base + epoch_length
        max_iters = state.max_iters
        if self._next is _Next.COUNT or self._next is _Next.PROCESS:
            self._finish_fetched_iteration()
        it = state.iteration
        fetch_only = self._next is _Next.FETCH
        if self._next is _Next.ITERATION_END and it in (end, max_iters):  # resumed after the epoch's last iteration
            self._epoch_or_run_ends(it, end)
            return
        # as in pytorch-ignite, the epoch ends when its iteration count *equals* epoch_length (the run when the
        # iteration equals max_iters): a limit already passed (epoch_length learned late) is never reached
        stop_at = min((limit for limit in (end, max_iters) if limit is not None and limit > it), default=NEVER)
        self._next = _Next.BATCH
        while True:
            if fetch_only:
                fetch_only = False
            else:
                state.batch = None
                if it >= due[_GET_BATCH_STARTED]:
                    fire(_GET_BATCH_STARTED, it)
            try:
                batch = next(passes.iterator)  # type: ignore[arg-type]  # opened by _start_epoch_part
            except StopIteration:
                state.batch = None
                if self._pass_ran_out():
                    return
                fetch_only = True  # no GET_BATCH_STARTED right after DATALOADER_STOP_ITERATION, as in pytorch-ignite
                continue
            state.batch = batch
            state.output = None  # as in pytorch-ignite: a fetched batch has no output yet
            if it >= due[_GET_BATCH_COMPLETED]:
                fire(_GET_BATCH_COMPLETED, it)
            it += 1
            state.iteration = it
            if it >= due[_ITERATION_STARTED]:
                fire(_ITERATION_STARTED, it)
            state.output = process(self, state.batch)
            if it >= due[_ITERATION_COMPLETED]:
                fire(_ITERATION_COMPLETED, it)
            if self._stop:
                self._next = _Next.ITERATION_END
                self._raise_stop()
            if it >= stop_at:
                self._epoch_or_run_ends(it, end)
                return

    def _finish_fetched_iteration(self) -> None:
        """Resume an iteration interrupted after its batch was fetched: count it, process it."""
        state = self.state
        if self._next is _Next.COUNT:
            state.iteration += 1
            self._next = _Next.PROCESS
            if state.iteration >= self._due[_ITERATION_STARTED]:
                self._fire_per_iteration(_ITERATION_STARTED, state.iteration)
        self._next = _Next.ITERATION_END
        state.output = self._process_function(self, state.batch)
        if state.iteration >= self._due[_ITERATION_COMPLETED]:
            self._fire_per_iteration(_ITERATION_COMPLETED, state.iteration)
        if self._stop:
            self._raise_stop()

    def _epoch_or_run_ends(self, iteration: int, epoch_end: int) -> None:
        """The epoch's last iteration ran (return), or ``max_iters`` was reached within it (terminate)."""
        if iteration != epoch_end:
            # as in pytorch-ignite: max_iters within an epoch ends the run as terminate() does
            raise _StopSignal(_Stop.RUN)

    def _keep_position_after_failure(self) -> None:
        """An exception ended the run: note where the epoch and the data stood, so that ``run()`` goes on from there."""
        state = self.state
        if self._next is not _Next.EPOCH:
            fetched = self._next in (_Next.COUNT, _Next.PROCESS)  # that batch is fetched again
            if self._data_passes.iterator is not None:
                self._resume_position = self._data_passes.position(state.iteration) - fetched
            if self._epoch_base is not None:
                self._init_iter = state.iteration - self._epoch_base
            self._next = _Next.ITERATION_END
        self._epoch_base = None
        self._data_passes.close()

    def _handle_exception(self, error: BaseException) -> bool:
        """Call every ``EXCEPTION_RAISED`` handler; return whether one of them handled the error.

        A handler has handled it when it called ``terminate()`` or ``interrupt()``. Failures of
        handlers are noted on ``error``.
        """
        self.logger.error("Engine run stopped by %s: %s", type(error).__name__, error)
        self._last_fired = (Events.EXCEPTION_RAISED, self.state.iteration)
        dispatch = self._dispatch.get(Events.EXCEPTION_RAISED)
        if dispatch is None:
            return False
        self._stop = _Stop.NONE
        for entry in dispatch.entries:
            try:
                entry.call(self, error)
            except Exception as handler_error:  # every handler runs; their failures ride on the original error
                if handler_error is error:  # pytorch-ignite's idiom re-raises the exception it was given
                    continue
                self.logger.exception("EXCEPTION_RAISED handler %s failed", _describe(entry.handler))
                if hasattr(error, "add_note"):
                    error.add_note(
                        f"While handling it, EXCEPTION_RAISED handler {_describe(entry.handler)} raised "
                        f"{type(handler_error).__name__}: {handler_error}"
                    )
        stop, self._stop = self._stop, _Stop.NONE
        if stop is _Stop.INTERRUPT:
            self._phase = _Phase.INTERRUPTED
        elif stop is _Stop.RUN:
            self._phase = _Phase.TERMINATED
            self._next = _Next.EPOCH
            self._resume_position = 0
        else:
            return False
        self.logger.info("An EXCEPTION_RAISED handler called %s: the run ends without re-raising.", stop.name.lower())
        return True


def _misplaced_terminate_epoch(where: str) -> RuntimeError:
    return RuntimeError(
        f"terminate_epoch() was called from {where}, where no epoch's iterations are running. "
        "Call it from the process function or from a handler of an iteration event (e.g. "
        "ITERATION_COMPLETED); use terminate() to stop the whole run."
    )


def _output_the_batch(engine: Engine, batch: Any) -> Any:
    return batch


def _same_handler(registered: Callable[..., Any], handler: Callable[..., Any]) -> bool:
    return registered is handler or registered == handler


def _parameters(signature: inspect.Signature) -> str:
    """The parameter list of a signature, without its return annotation."""
    return str(signature.replace(return_annotation=inspect.Signature.empty))


def _event_label(event: Any) -> str:
    return f"{type(event).__name__}.{event.name}" if isinstance(event, Enum) else repr(event)


def _check_process_function(process_function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(process_function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"process_function {_describe(process_function)} has parameters {_parameters(signature)} but is called as "
            "process_function(engine, batch). Give it two parameters, e.g. def step(engine, batch): ..."
        ) from None
