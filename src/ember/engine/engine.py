"""The :class:`Engine`: runs a process function over data and fires events to handlers.

This module holds the engine's public methods: handlers and events, the stop API
(``terminate()``, ``terminate_epoch()``, ``interrupt()``), ``state_dict()`` / ``load_state_dict()``,
``set_data()`` and ``run()``. What runs behind them has a module each: handler dispatch
(``_dispatch``), the run loop (``_loop``), its stop and lifecycle values (``_lifecycle``), the data
position (:mod:`ember.engine.passes`) and the state-dict format (:mod:`ember.engine.saved_position`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from ember.engine._dispatch import (
    _EMPTY_DISPATCH,
    HandlerWrapper,
    RemovableEventHandle,
    RemovableWrapperHandle,
    _bind_handler,
    _describe,
    _Dispatch,
    _Entry,
    _event_label,
    _same_handler,
)
from ember.engine._lifecycle import _LAST_EVENT_BEFORE, _misplaced_terminate_epoch, _Next, _Phase, _Stop
from ember.engine._loop import _check_process_function, _output_the_batch, _RunLoop
from ember.engine.events import NEVER, AnyEvent, EventEnum, EventFilter, Events, EventsList, FilteredEvent
from ember.engine.passes import DataPasses
from ember.engine.saved_position import check_positive, parse_state_dict
from ember.engine.state import State

__all__ = ["Engine", "RemovableEventHandle", "RemovableWrapperHandle"]

ProcessFunction = Callable[["Engine", Any], Any]
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


class Engine(_RunLoop):
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
        ``iteration_step`` (the last event of an iteration under way: ``"get_batch_started"``,
        ``"get_batch_completed"``, ``"iteration_started"``, or ``None`` between iterations; a
        resume fetches a batch already fetched again, without firing its events twice),
        ``get_batch_started`` (whether ``GET_BATCH_STARTED`` had fired for the next batch) and each
        user key. They make a resume exact, wherever the state was saved.
        :meth:`load_state_dict` also reads pytorch-ignite's smaller dict.
        """
        state = self.state
        in_epoch = self._next is not _Next.EPOCH
        epoch_base = self._epoch_base if self._epoch_base is not None else state.iteration - (self._init_iter or 0)
        counted = self._next is _Next.PROCESS  # the fetched batch is counted in state.iteration already
        iterator_open = self._data_passes.iterator is not None
        # no pass open: the position a loaded state (or a failure) left for the next pass to start at
        pending = self._resume_position or 0
        saved: dict[str, Any] = {
            "iteration": state.iteration,
            "epoch": state.epoch,
            "epoch_length": state.epoch_length,
            "max_epochs": state.max_epochs,
            "max_iters": state.max_iters,
            "epoch_completed": not in_epoch,
            "terminated": self._phase is _Phase.TERMINATED or self._stop is _Stop.RUN,
            "data_position": self._data_passes.position(state.iteration) - counted if iterator_open else pending,
            "epoch_start_iteration": epoch_base if in_epoch else state.iteration,
            "iteration_step": _LAST_EVENT_BEFORE.get(self._next),
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

    # ------------------------------------------------------------------ data and running

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
