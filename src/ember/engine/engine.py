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
import itertools
import logging
import math
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import Any, TypeVar

from ember.engine.events import (
    BUILTIN_EVENT_COUNTERS,
    NEVER,
    AnyEvent,
    EventEnum,
    EventFilter,
    Events,
    EventsList,
    FilteredEvent,
)
from ember.engine.state import State

__all__ = ["Engine", "RemovableEventHandle"]

ProcessFunction = Callable[["Engine", Any], Any]
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
#: ``wrapper(event, handler, call) -> call``: see :meth:`Engine.set_handler_wrapper`.
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


class _Stop(enum.IntEnum):
    """The stop a user asked for; ``NONE`` is falsy so the loop tests it with one ``if``."""

    NONE = 0
    EPOCH = 1
    RUN = 2
    INTERRUPT = 3


class _StopSignal(Exception):
    """Carries an honoured stop request from the point it is seen to the loop level that acts on it."""

    def __init__(self, kind: _Stop) -> None:
        super().__init__(kind.name)
        self.kind = kind


class _Entry:
    """One registration of a handler on an event.

    ``bound`` calls the handler as it was registered; ``call`` is what firing invokes: ``bound``
    itself, or ``bound`` routed through the engine's handler wrapper (see ``set_handler_wrapper``).
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
    handler: Callable[..., Any], event_args: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[..., Any]:
    """Return a callable ``call(engine, *event_values)`` that invokes ``handler`` as registered.

    A handler takes the engine as its first argument, or (as in pytorch-ignite) no engine at all.
    Its signature is checked here, once, so that a mismatch fails when it is attached. Events that
    pass values (the exception of ``EXCEPTION_RAISED``) need the engine parameter: without it, a
    one-parameter handler written as ``def on_error(engine)`` would silently get the exception.
    """
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # a builtin without a signature: assume it takes the engine
        signature = None
    takes_engine = True
    if signature is not None:
        placeholders = [None] * len(event_args)
        try:
            signature.bind(None, *placeholders, *args, **kwargs)
        except TypeError:
            try:
                if event_args:
                    raise TypeError("no engine-less form for events that pass values")
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
    if takes_engine and not args and not kwargs:
        return handler
    if takes_engine:
        return lambda engine, *values: handler(engine, *values, *args, **kwargs)
    return lambda engine, *values: handler(*values, *args, **kwargs)


def _check_positive(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer, got {name}={value!r} ({type(value).__name__}).")
    if value < 1:
        hint = " Pass max_epochs >= 1, or pass max_iters instead." if name == "max_epochs" else f" Pass {name} >= 1."
        raise ValueError(f"{name} must be a positive integer, got {name}={value}.{hint}")


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
        self._event_counters: dict[Any, str] = dict(BUILTIN_EVENT_COUNTERS)
        self._allowed_events: set[Any] = set(Events)
        self._dispatch: dict[Any, _Dispatch] = {}
        self._per_iteration = [_EMPTY_DISPATCH] * 4
        self._due = [NEVER] * 4
        self._trace = False
        self._handler_wrapper: HandlerWrapper | None = None
        self._stop = _Stop.NONE
        self._running = False
        self._in_epoch = False
        self._resumable = False
        self._interrupted = False
        self._terminated = False
        self._get_batch_started_done = False
        self._pass_length: int | None = None
        self._data: Iterable[Any] | None = None
        self._data_iter: Iterator[Any] | None = None
        self._pass_start_iteration = 0
        self._epoch_start_iteration = 0
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
        for event, attribute in (event_to_attr or {}).items():
            if event not in self._allowed_events or isinstance(event, Events):
                raise ValueError(
                    f"event_to_attr names {event!r}, which is not a custom event registered on this engine. "
                    "Pass it in event_names as well."
                )
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
            bound = _bind_handler(handler, _EVENT_ARGUMENTS.get(base, ()), args, kwargs)
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
            registered = has_handlers or event_name in self._allowed_events  # never a filtered event
        except TypeError:  # unhashable: certainly not an event
            has_handlers = registered = False
        if not registered:
            raise ValueError(
                f"Cannot fire {event_name!r}: it is not an event registered on this engine. "
                "Fire a plain event (not a filtered one) after engine.register_events(...)."
            )
        if has_handlers or self._trace:
            self._fire(event_name)

    def set_handler_wrapper(self, wrapper: HandlerWrapper | None) -> None:
        """Route every handler call of this engine through ``wrapper``; ``None`` removes it.

        ``wrapper(event, handler, call)`` receives the base event, the handler as it was registered
        and the callable the engine would invoke (``call(engine, *event_values)``), and returns the
        callable to invoke instead. It applies to the handlers attached now and to those attached
        later, for profilers and tracers that must time or observe each handler. Filters are
        unaffected: a wrapped handler is still skipped on counts where it does not fire.

        Example::

            def timed(event, handler, call):
                def run(engine, *values):
                    start = time.perf_counter()
                    call(engine, *values)
                    durations[handler] += time.perf_counter() - start
                return run

            engine.set_handler_wrapper(timed)
        """
        if wrapper is not None and not callable(wrapper):
            raise TypeError(f"wrapper must be callable (event, handler, call) -> call or None, got {wrapper!r}.")
        self._handler_wrapper = wrapper
        for event, dispatch in list(self._dispatch.items()):
            self._set_dispatch(event, _Dispatch(tuple(self._wrapped_entry(event, e) for e in dispatch.entries)))

    def _wrapped_entry(self, event: Any, entry: _Entry) -> _Entry:
        wrapper = self._handler_wrapper
        call = entry.bound if wrapper is None else wrapper(event, entry.handler, entry.bound)
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
        self._due[slot] = 0 if self._trace else self._per_iteration[slot].next_due(self.state.iteration)

    # ------------------------------------------------------------------ firing

    def _fire(self, event: Any, *values: Any) -> None:
        """Call the handlers of ``event`` whose filter passes; the general, not per-iteration, path."""
        if self._trace:
            self._log_event(event)
        dispatch = self._dispatch.get(event)
        if dispatch is None:
            return
        if dispatch.calls is not None:
            for call in dispatch.calls:
                call(self, *values)
            return
        count = getattr(self.state, self._event_counters[event], 0) if event in self._event_counters else 0
        for entry in dispatch.entries:
            if entry.filter is None or entry.filter.fires(self, count):
                entry.call(self, *values)

    def _fire_per_iteration(self, slot: int, count: int) -> None:
        """Fire a per-iteration event whose due count was reached, then move its due count on."""
        dispatch = self._per_iteration[slot]
        if self._trace:
            self._log_event(_PER_ITERATION_EVENTS[slot])
        if dispatch.calls is not None:
            for call in dispatch.calls:
                call(self)
        else:
            for entry in dispatch.entries:
                if entry.filter is None or entry.filter.fires(self, count):
                    entry.call(self)
            if self._per_iteration[slot] is dispatch:  # unless a handler changed the handlers
                self._due[slot] = 0 if self._trace else dispatch.next_due(count + 1)
        if self._stop:
            # paused just before a fetch: the resumed run fetches without firing GET_BATCH_STARTED again
            self._get_batch_started_done = self._stop is _Stop.INTERRUPT and slot == _GET_BATCH_STARTED
            self._raise_stop()

    def _fire_and_check(self, event: Any) -> None:
        self._fire(event)
        if self._stop:
            self._raise_stop()

    def _log_event(self, event: Any) -> None:
        state = self.state
        self.logger.debug("%s: epoch=%d iteration=%d", _event_label(event), state.epoch, state.iteration)

    # ------------------------------------------------------------------ stopping

    def terminate(self) -> None:
        """Stop the run once the handlers of the current event have finished.

        Then ``TERMINATE`` and ``COMPLETED`` fire, and :meth:`run` returns. ``EPOCH_COMPLETED`` is not
        fired for the epoch that was cut short. A later :meth:`run` starts a new run.
        """
        self._stop = _Stop.RUN

    def terminate_epoch(self) -> None:
        """End the current epoch once the handlers of the current event have finished.

        Then ``TERMINATE_SINGLE_EPOCH`` and ``EPOCH_COMPLETED`` fire and the next epoch begins with
        the next batch of the data. Call it while an epoch runs (from ``EPOCH_STARTED`` to the last
        ``ITERATION_COMPLETED``, or from the process function).

        Raises:
            RuntimeError: if no epoch is running.
        """
        if not (self._running and self._in_epoch):
            raise RuntimeError(
                "terminate_epoch() was called while no epoch is running, so there is no epoch to end. "
                "Call it from the process function or from a handler of EPOCH_STARTED or an iteration event; "
                "use terminate() to stop the whole run."
            )
        self._stop = _Stop.EPOCH

    def interrupt(self) -> None:
        """Pause the run once the handlers of the current event have finished; ``run()`` resumes it.

        ``INTERRUPT`` fires and :meth:`run` returns the state. The next :meth:`run` call continues
        where the run stopped: with the next batch of the same epoch, from the same data iterator.
        """
        self._stop = _Stop.INTERRUPT

    def _raise_stop(self) -> None:
        kind, self._stop = self._stop, _Stop.NONE
        if kind is _Stop.EPOCH and not self._in_epoch:
            return
        raise _StopSignal(kind)

    # ------------------------------------------------------------------ checkpointing

    def state_dict(self) -> dict[str, Any]:
        """The engine's position, for checkpoints: counters, run length and ``state_dict_user_keys``.

        Keys: ``iteration``, ``epoch``, ``epoch_length``, ``max_epochs``, ``max_iters``,
        ``epoch_completed`` (whether ``epoch`` had ended when saved), ``terminated`` (whether
        ``terminate()`` had ended, or was about to end, the run: a resume then runs nothing, as the
        original run stopped there) and each user key.
        """
        state = self.state
        saved: dict[str, Any] = {
            "iteration": state.iteration,
            "epoch": state.epoch,
            "epoch_length": state.epoch_length,
            "max_epochs": state.max_epochs,
            "max_iters": state.max_iters,
            "epoch_completed": not self._in_epoch,
            "terminated": self._terminated or self._stop is _Stop.RUN,
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

        Raises:
            ValueError: a key is missing or a value is out of range.
            TypeError: a value has the wrong type.
            RuntimeError: the engine is running.
        """
        if self._running:
            raise RuntimeError("load_state_dict() cannot be called while the engine is running.")
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a mapping, got {type(state_dict).__name__}.")
        required = ["iteration", "epoch", "epoch_length", "max_epochs", "max_iters", *self.state_dict_user_keys]
        missing = [key for key in required if key not in state_dict]
        if missing:
            raise ValueError(
                f"The state dict misses the keys {missing} (it has {sorted(state_dict)}). "
                "Pass a dict saved by Engine.state_dict() with the same state_dict_user_keys."
            )
        iteration, epoch = state_dict["iteration"], state_dict["epoch"]
        epoch_length, max_epochs, max_iters = (
            state_dict["epoch_length"],
            state_dict["max_epochs"],
            state_dict["max_iters"],
        )
        for name, value, minimum in (("iteration", iteration, 0), ("epoch", epoch, 0)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"state_dict[{name!r}] must be an integer, got {value!r}.")
            if value < minimum:
                raise ValueError(f"state_dict[{name!r}] must be >= {minimum}, got {value}.")
        for name, value in (("epoch_length", epoch_length), ("max_epochs", max_epochs), ("max_iters", max_iters)):
            try:
                _check_positive(f"state_dict[{name!r}]", value)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{error} The state dict is invalid.") from None
        if (max_epochs is None) == (max_iters is None):
            raise ValueError(
                f"The state dict must set exactly one of max_epochs and max_iters, got max_epochs={max_epochs} "
                f"and max_iters={max_iters}."
            )
        if epoch_length is not None and epoch > 0:
            consistent = (epoch - 1) * epoch_length <= iteration <= epoch * epoch_length
        else:
            consistent = epoch > 0 or iteration == 0
        if not consistent:
            raise ValueError(
                f"The state dict is inconsistent: iteration={iteration} cannot be reached in epoch={epoch} "
                f"with epoch_length={epoch_length}."
            )
        completed = state_dict.get("epoch_completed", epoch_length is None or iteration == epoch * epoch_length)
        terminated = state_dict.get("terminated", False)
        for name, flag in (("epoch_completed", completed), ("terminated", terminated)):
            if not isinstance(flag, bool):
                raise TypeError(f"state_dict[{name!r}] must be a bool, got {flag!r}.")
        state = self.state
        state.iteration, state.epoch, state.epoch_length = iteration, epoch, epoch_length
        state.max_epochs, state.max_iters = max_epochs, max_iters
        for key in self.state_dict_user_keys:
            setattr(state, key, state_dict[key])
        self._in_epoch = epoch > 0 and not completed
        self._epoch_start_iteration = (epoch - 1) * epoch_length if epoch_length and epoch > 0 else 0
        self._data_iter = None
        self._resumable = True
        self._interrupted = False
        self._terminated = terminated

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

        A new run starts unless the engine was interrupted (:meth:`interrupt`) or loaded with
        :meth:`load_state_dict`; then the run resumes where it stopped, and ``max_epochs`` may be
        raised to train for longer.

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
          ``GET_BATCH_COMPLETED``, and the engine starts a new pass over the data. If a new pass
          yields nothing, a warning is logged and the run ends as with ``terminate()``.
        - ``terminate()``: ... event where called, ``TERMINATE``, ``COMPLETED``; no further
          ``EPOCH_COMPLETED``. A later ``run()`` starts a new run.
        - ``terminate_epoch()``: ... event where called, ``TERMINATE_SINGLE_EPOCH``,
          ``EPOCH_COMPLETED``, then the next epoch (or ``COMPLETED``).
        - ``interrupt()``: ... event where called, ``INTERRUPT``, and ``run()`` returns. The next
          ``run()`` continues with what would have come next (``STARTED`` is not fired again).
        - an exception in the process function, a handler or the data: ``EXCEPTION_RAISED``
          (every handler is called with ``(engine, exception)``, even if one of them fails), then
          the exception propagates out of ``run()`` unchanged. ``KeyboardInterrupt`` too.
        - resuming from :meth:`load_state_dict`: ``STARTED``, then the run continues right after
          the event at which the state was saved (a partly run epoch gets no second
          ``EPOCH_STARTED``; the data is positioned at the next batch, see below).

        A resume in the middle of an epoch positions the data at the next batch: if ``data`` has a
        method ``iter_from(position)``, the engine calls it to get an iterator starting at that
        batch of the current pass; otherwise it fetches and discards the batches before it.

        Raises:
            TypeError / ValueError: for arguments that cannot describe a run (the message says why).
            RuntimeError: if the engine is already running.
        """
        for name, value in (("max_epochs", max_epochs), ("max_iters", max_iters), ("epoch_length", epoch_length)):
            _check_positive(name, value)
        if max_epochs is not None and max_iters is not None:
            raise ValueError(
                f"max_epochs and max_iters are exclusive, got max_epochs={max_epochs} and max_iters={max_iters}. "
                "Pass only one of them."
            )
        if self._running:
            raise RuntimeError("run() was called while this engine is already running. Wait for the run to return.")
        if data is not None and not isinstance(data, Iterable):
            raise TypeError(
                f"data must be an iterable of batches (a list, a DataLoader, a generator, ...), got "
                f"{type(data).__name__}. Pass data=None with epoch_length to run without data."
            )
        if not self._resumable:
            self._prepare_new_run(data, max_epochs, max_iters, epoch_length)
            return self._run_loop(fire_started=True)
        if self._terminated:
            self.logger.info(
                "The loaded run had been ended by terminate() at iteration %d; nothing to run. "
                "Start a new run without loading the engine's state to train again.",
                self.state.iteration,
            )
            return self.state
        self._prepare_resume(data, max_epochs, max_iters, epoch_length)
        if self._is_done() and not self._interrupted:  # an interrupted run still owes its COMPLETED
            self.logger.info(
                "The loaded run is already complete (iteration %d); nothing to run. Pass a larger max_epochs or "
                "max_iters to train for longer.",
                self.state.iteration,
            )
            return self.state
        return self._run_loop(fire_started=not self._interrupted)

    def _prepare_new_run(
        self, data: Iterable[Any] | None, max_epochs: int | None, max_iters: int | None, epoch_length: int | None
    ) -> None:
        if epoch_length is None:
            epoch_length = _length_of(data)
            if epoch_length == 0:
                raise ValueError(
                    f"data is empty ({type(data).__name__} of length 0): there is nothing to run. "
                    "Pass data with at least one batch."
                )
        if data is None and epoch_length is None:
            raise ValueError(
                "run() without data needs epoch_length, the number of iterations per epoch, e.g. "
                "engine.run(epoch_length=100). Or pass the data to iterate over."
            )
        state = self.state
        state.iteration = state.epoch = 0
        state.epoch_length = epoch_length
        state.max_iters = max_iters
        if max_iters is None:
            state.max_epochs = max_epochs or 1
        else:
            state.max_epochs = math.ceil(max_iters / epoch_length) if epoch_length else None
        state.output = state.batch = None
        state.metrics = {}
        state.times = {"EPOCH_COMPLETED": None, "COMPLETED": None}
        self._set_data(data)
        self._in_epoch = self._terminated = False
        self._epoch_start_iteration = 0

    def _prepare_resume(
        self, data: Iterable[Any] | None, max_epochs: int | None, max_iters: int | None, epoch_length: int | None
    ) -> None:
        state = self.state
        if max_epochs is not None:
            if state.max_iters is not None:
                raise ValueError(
                    f"This run is limited by max_iters={state.max_iters}; "
                    f"it cannot resume with max_epochs={max_epochs}. "
                    "Resume with max_iters, or start a new run."
                )
            if max_epochs < state.epoch:
                raise ValueError(
                    f"max_epochs={max_epochs} is smaller than the epoch already reached ({state.epoch}). "
                    f"Pass max_epochs >= {state.epoch} to resume this run."
                )
            state.max_epochs = max_epochs
        if max_iters is not None:
            if state.max_iters is None:
                raise ValueError(
                    f"This run is limited by max_epochs={state.max_epochs}; "
                    f"it cannot resume with max_iters={max_iters}. "
                    "Resume with max_epochs, or start a new run."
                )
            if max_iters < state.iteration:
                raise ValueError(
                    f"max_iters={max_iters} is smaller than the iteration already reached ({state.iteration}). "
                    f"Pass max_iters >= {state.iteration}."
                )
            state.max_iters = max_iters
            if state.epoch_length:
                state.max_epochs = math.ceil(max_iters / state.epoch_length)
        if epoch_length is not None and state.epoch_length is not None and epoch_length != state.epoch_length:
            raise ValueError(
                f"epoch_length={epoch_length} differs from the resumed run's epoch_length={state.epoch_length}. "
                "Leave epoch_length out when resuming."
            )
        if epoch_length is not None:
            state.epoch_length = epoch_length
        if data is not None and data is not self._data:
            self._set_data(data)
        elif data is None and self._data is None and state.epoch_length is None:
            raise ValueError("Resuming a run needs its data (or epoch_length for a run without data).")

    def _set_data(self, data: Iterable[Any] | None) -> None:
        self._data = data
        self.state.dataloader = data
        self._data_iter = None
        self._pass_length = _length_of(data)

    def _is_done(self) -> bool:
        state = self.state
        if state.max_iters is not None:
            return state.iteration >= state.max_iters
        return state.max_epochs is not None and state.epoch >= state.max_epochs and not self._in_epoch

    def _run_loop(self, fire_started: bool) -> State:
        state = self.state
        self._running = True
        self._stop = _Stop.NONE
        self._trace = self.logger.isEnabledFor(logging.DEBUG)
        for slot in range(4):
            self._refresh_due(slot)
        run_start = time.perf_counter()
        try:
            try:
                if fire_started:
                    self._fire_and_check(Events.STARTED)
                while not self._is_done():
                    try:
                        if not self._in_epoch:
                            state.epoch += 1
                            self._in_epoch = True
                            self._epoch_start_iteration = state.iteration
                            self._epoch_start_time = time.perf_counter()
                            self._fire_and_check(Events.EPOCH_STARTED)
                        self._run_iterations()
                    except _StopSignal as signal:
                        if signal.kind is not _Stop.EPOCH:
                            raise
                        self._fire(Events.TERMINATE_SINGLE_EPOCH)
                    self._in_epoch = False
                    state.times["EPOCH_COMPLETED"] = time.perf_counter() - self._epoch_start_time
                    self._fire_and_check(Events.EPOCH_COMPLETED)
            except _StopSignal as signal:
                if signal.kind is _Stop.INTERRUPT:
                    self._resumable = self._interrupted = True
                    self._fire(Events.INTERRUPT)
                    return state
                self._terminated = True
                self._fire(Events.TERMINATE)
            state.times["COMPLETED"] = time.perf_counter() - run_start
            self._end_run()
            self._fire(Events.COMPLETED)
            return state
        except (Exception, KeyboardInterrupt) as error:
            self._end_run()
            self._handle_exception(error)
            raise
        finally:
            self._running = False
            self._stop = _Stop.NONE

    def _end_run(self) -> None:
        self._resumable = self._interrupted = self._get_batch_started_done = False
        self._data_iter = None

    def _run_iterations(self) -> None:
        """Run the iterations of the current epoch; returns when the epoch's last one is done."""
        state = self.state
        process = self._process_function
        due = self._due
        fire = self._fire_per_iteration
        it = state.iteration
        epoch_end = self._epoch_end_iteration()
        if it >= epoch_end:
            return
        data_iter = self._data_iter or self._start_data_pass()
        if self._get_batch_started_done:
            self._get_batch_started_done = False
        elif it >= due[_GET_BATCH_STARTED]:
            fire(_GET_BATCH_STARTED, it)
        while True:
            for batch in data_iter:
                if it >= due[_GET_BATCH_COMPLETED]:
                    state.batch = batch
                    fire(_GET_BATCH_COMPLETED, it)
                    batch = state.batch
                it += 1
                state.iteration = it
                state.batch = batch
                if it >= due[_ITERATION_STARTED]:
                    fire(_ITERATION_STARTED, it)
                    batch = state.batch
                state.output = process(self, batch)
                if it >= due[_ITERATION_COMPLETED]:
                    fire(_ITERATION_COMPLETED, it)
                if self._stop:
                    self._raise_stop()
                if it >= epoch_end:
                    if it - self._pass_start_iteration == self._pass_length:
                        self._data_iter = None  # a sized pass is used up: the next epoch starts a new one
                    return
                if it >= due[_GET_BATCH_STARTED]:
                    fire(_GET_BATCH_STARTED, it)
            next_pass = self._data_ran_out(it)
            if next_pass is None:
                return
            data_iter = next_pass

    def _epoch_end_iteration(self) -> int:
        state = self.state
        end = NEVER if state.epoch_length is None else self._epoch_start_iteration + state.epoch_length
        return end if state.max_iters is None else min(end, state.max_iters)

    def _start_data_pass(self, position: int | None = None) -> Iterator[Any]:
        """Start iterating over the data, at ``position`` batches into the current pass when resuming."""
        data = self._data
        state = self.state
        if position is None:
            pass_length = self._pass_length or state.epoch_length
            position = state.iteration % pass_length if pass_length else 0
        if data is None:
            data_iter: Iterator[Any] = itertools.repeat(None)
        elif position and hasattr(data, "iter_from"):
            data_iter = iter(data.iter_from(position))
        else:
            data_iter = iter(data)
            if position:
                self.logger.info(
                    "Resuming at batch %d of the data: fetching and discarding %d batches "
                    "(give the data an iter_from(position) method to skip them without loading).",
                    position,
                    position,
                )
                for _ in itertools.islice(data_iter, position):
                    pass
        self._data_iter = data_iter
        self._pass_start_iteration = state.iteration - position
        return data_iter

    def _data_ran_out(self, iteration: int) -> Iterator[Any] | None:
        """Handle the data iterator running out mid-epoch: learn the epoch length, or start a new pass.

        Returns the iterator to continue the epoch with, or ``None`` when the epoch ends here.
        """
        state = self.state
        self._fire(Events.DATALOADER_STOP_ITERATION)
        passed = iteration - self._pass_start_iteration
        if state.epoch_length is None:
            if passed == 0:
                raise ValueError(
                    "data is empty: iterating over it yielded no batch. Pass data with at least one batch."
                )
            state.epoch_length = iteration - self._epoch_start_iteration
            if state.max_iters is not None:
                state.max_epochs = math.ceil(state.max_iters / state.epoch_length)
            self._data_iter = None  # the next epoch starts a new pass
            if self._stop:
                self._raise_stop()
            return None
        if passed == 0:
            self.logger.warning(
                "The data can provide no more batches (a new pass over it yielded nothing) at iteration %d, "
                "before the run's end; the run ends here. Pass data that can be iterated again "
                "(a list, a DataLoader) rather than an iterator, or a smaller max_epochs/max_iters.",
                iteration,
            )
            raise _StopSignal(_Stop.RUN)
        next_pass = self._start_data_pass(position=0)
        if self._stop:
            # A stop asked for by a DATALOADER_STOP_ITERATION handler acts before the next batch; a
            # resumed run fetches it from the new pass without firing GET_BATCH_STARTED again.
            self._get_batch_started_done = self._stop is _Stop.INTERRUPT
            self._raise_stop()
        return next_pass

    def _handle_exception(self, error: BaseException) -> None:
        """Call every ``EXCEPTION_RAISED`` handler; failures of handlers are noted on ``error``."""
        self.logger.error("Engine run stopped by %s: %s", type(error).__name__, error)
        dispatch = self._dispatch.get(Events.EXCEPTION_RAISED)
        if dispatch is None:
            return
        for entry in dispatch.entries:
            try:
                entry.call(self, error)
            except Exception as handler_error:  # every handler runs; their failures ride on the original error
                self.logger.exception("EXCEPTION_RAISED handler %s failed", _describe(entry.handler))
                if hasattr(error, "add_note"):
                    error.add_note(
                        f"While handling it, EXCEPTION_RAISED handler {_describe(entry.handler)} raised "
                        f"{type(handler_error).__name__}: {handler_error}"
                    )


def _length_of(data: Iterable[Any] | None) -> int | None:
    """``len(data)``, or None for data without a length (a DataLoader of an IterableDataset raises)."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


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
