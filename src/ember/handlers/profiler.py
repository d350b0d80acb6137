"""Where a run's time goes: per handler, per event, data loading, the process function, the engine.

How it measures: the profiler routes every handler call through the engine's handler wrapper
(:meth:`Engine.set_handler_wrapper <ember.engine.Engine.set_handler_wrapper>`) and notes when each
call starts and ends. It also attaches an empty marker handler to each built-in event, so that every
event of the run leaves a timestamp. The time between two consecutive handler calls belongs to what
the engine did between them: after ``GET_BATCH_STARTED`` it fetched a batch, after
``ITERATION_STARTED`` it ran the process function, otherwise it did its own bookkeeping. These
intervals and the handler calls tile the run without gaps or overlaps, so their sum is the run's
wall time, from the first handler call of the run to the last.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ember.engine import Engine, Events

__all__ = ["HandlerTime", "HandlersProfiler", "Profile"]

# What the engine does after each built-in event, until the next handler call.
_DATA = "data loading"
_PROCESS = "process function"
_ENGINE = "engine"
_AFTER_EVENT = {
    Events.GET_BATCH_STARTED: _DATA,
    Events.DATALOADER_STOP_ITERATION: _DATA,  # a new pass over the data starts, then its first batch
    Events.ITERATION_STARTED: _PROCESS,
}
# Events after which the engine starts a pass over the data (iter(data): DataLoader workers start).
_BEFORE_FIRST_FETCH = {Events.STARTED, Events.EPOCH_STARTED}
# After these, run() returns: the time until the next call is outside the run.
_RUN_LEFT = {Events.COMPLETED, Events.INTERRUPT, Events.EXCEPTION_RAISED}
_MARKED_EVENTS = [event for event in Events if event is not Events.EXCEPTION_RAISED]


@dataclass(frozen=True)
class HandlerTime:
    """Time spent in one handler on one event."""

    event: str
    handler: str
    calls: int
    seconds: float


@dataclass(frozen=True)
class Profile:
    """A run's time, split up; ``handlers + data_loading + process_function + engine == total``.

    Attributes:
        data_loading: seconds spent fetching batches (and starting passes over the data).
        process_function: seconds spent in the process function.
        engine: seconds the engine spent between handler calls otherwise (its own bookkeeping,
            dispatch, and the profiler's timing calls).
        handlers: time per handler and event, largest first.
        iterations: iterations run while profiling.
    """

    data_loading: float
    process_function: float
    engine: float
    handlers: tuple[HandlerTime, ...]
    iterations: int

    @property
    def handlers_total(self) -> float:
        """Seconds spent in handlers."""
        return sum(entry.seconds for entry in self.handlers)

    @property
    def total(self) -> float:
        """The run's wall time, from its first handler call to its last."""
        return self.data_loading + self.process_function + self.engine + self.handlers_total

    def events(self) -> dict[str, float]:
        """Seconds spent in the handlers of each event, largest first."""
        per_event: dict[str, float] = {}
        for entry in self.handlers:
            per_event[entry.event] = per_event.get(entry.event, 0.0) + entry.seconds
        return dict(sorted(per_event.items(), key=lambda item: -item[1]))

    def table(self) -> str:
        """The profile as a text table: the run's parts, then time per event, then per handler."""
        total = self.total or 1.0
        lines = [f"Run: {self.total:.4f} s over {self.iterations} iterations", ""]
        lines.append(f"{'part':44s} {'seconds':>10s} {'share':>7s}")
        for part, seconds in (
            ("data loading", self.data_loading),
            ("process function", self.process_function),
            ("handlers", self.handlers_total),
            ("engine", self.engine),
        ):
            lines.append(f"{part:44s} {seconds:10.4f} {seconds / total:7.1%}")
        lines += ["", f"{'event':44s} {'seconds':>10s} {'share':>7s}"]
        for event, seconds in self.events().items():
            lines.append(f"{event:44s} {seconds:10.4f} {seconds / total:7.1%}")
        lines += ["", f"{'handler':44s} {'event':>26s} {'calls':>8s} {'seconds':>10s} {'per call':>11s}"]
        for entry in self.handlers:
            per_call = entry.seconds / entry.calls if entry.calls else 0.0
            lines.append(
                f"{entry.handler[:44]:44s} {entry.event[:26]:>26s} {entry.calls:8d} {entry.seconds:10.4f} "
                f"{per_call * 1e6:8.1f} us"
            )
        return "\n".join(lines)


class _Record:
    __slots__ = ("calls", "event", "handler", "seconds")

    def __init__(self, event: str, handler: str) -> None:
        self.event = event
        self.handler = handler
        self.calls = 0
        self.seconds = 0.0


def _marker(engine: Engine) -> None:
    """Does nothing: its call leaves the timestamp of an event that may have no other handler."""


def _exception_marker(engine: Engine, exception: BaseException) -> None:
    """The marker of ``EXCEPTION_RAISED``, whose handlers also receive the exception."""


def _describe(handler: Callable[..., Any]) -> str:
    if handler is _marker or handler is _exception_marker:
        return "(profiler marker)"
    name = getattr(handler, "__qualname__", None)
    return name if isinstance(name, str) else f"{type(handler).__qualname__} object"


def _label(event: Any) -> str:
    return event.name if hasattr(event, "name") else str(event)


class HandlersProfiler:
    """Times every handler, data loading and the process function of an engine's run.

    Attach it before the run; when the run ends, :meth:`profile` returns a :class:`Profile` and
    :meth:`table` the same as text (with ``attach(engine, file=sys.stdout)`` the table is printed
    when the run completes). A run that is interrupted and resumed is profiled as one run; a new
    run starts a new profile.

    The profiler uses the engine's handler wrapper: an engine has one, so attaching replaces any
    wrapper set before, and :meth:`detach` removes it. Profiling adds a few microseconds per
    iteration (the markers and the timing calls); they are counted under ``engine`` and the marker
    rows.

    The profiler has no ``state_dict``: a profile describes the time of one process's run, and a
    run resumed from a checkpoint (which fires ``STARTED`` again) starts a new profile.

    Example::

        profiler = HandlersProfiler()
        profiler.attach(trainer)
        trainer.run(loader, max_epochs=2)
        print(profiler.table())

    >>> engine = Engine()
    >>> profiler = HandlersProfiler()
    >>> profiler.attach(engine)
    >>> _ = engine.run(range(3))
    >>> profile = profiler.profile()
    >>> profile.iterations, "process function" in profiler.table()
    (3, True)
    """

    def __init__(self) -> None:
        self._engine: weakref.ref[Engine] | None = None
        self._file: TextIO | None = None
        self._records: dict[tuple[Any, str, int], _Record] = {}
        self._parts = {_DATA: 0.0, _PROCESS: 0.0, _ENGINE: 0.0}
        self._iterations = 0
        self._last_event: Any = None
        self._last_end = 0.0

    def attach(self, engine: Engine, file: TextIO | None = None) -> None:
        """Start profiling ``engine``; with ``file``, write the table there when the run completes.

        Raises:
            TypeError: ``engine`` is not an Engine, or ``file`` has no ``write`` method.
            RuntimeError: the profiler is already attached (use one profiler per engine).
        """
        if not isinstance(engine, Engine):
            raise TypeError(
                f"HandlersProfiler.attach expects an ember Engine, got {engine!r} ({type(engine).__name__})."
            )
        if file is not None and not callable(getattr(file, "write", None)):
            raise TypeError(f"file must be a text stream with a write method, got {file!r} ({type(file).__name__}).")
        if self._engine is not None and self._engine() is not None:
            raise RuntimeError(
                "This HandlersProfiler is already attached to an engine. Create one profiler per engine, or call "
                "detach() first."
            )
        self._engine = weakref.ref(engine)
        self._file = file
        for event in _MARKED_EVENTS:
            engine.add_event_handler(event, _marker)
        engine.add_event_handler(Events.EXCEPTION_RAISED, _exception_marker)
        if file is not None:
            engine.add_event_handler(Events.COMPLETED, self._write_table)
        engine.set_handler_wrapper(self._wrap)

    def detach(self) -> None:
        """Stop profiling: remove the markers and the handler wrapper; the profile so far stays readable."""
        engine = self._engine() if self._engine is not None else None
        self._engine = None
        if engine is None:
            return
        engine.set_handler_wrapper(None)
        for event in _MARKED_EVENTS:
            engine.remove_event_handler(_marker, event)
        engine.remove_event_handler(_exception_marker, Events.EXCEPTION_RAISED)
        if engine.has_event_handler(self._write_table, Events.COMPLETED):
            engine.remove_event_handler(self._write_table, Events.COMPLETED)

    def reset(self) -> None:
        """Forget what was measured (done automatically when a new run starts)."""
        for record in self._records.values():
            record.calls, record.seconds = 0, 0.0
        for part in self._parts:  # in place: the wrapped handlers hold this dict
            self._parts[part] = 0.0
        self._iterations = 0

    def profile(self) -> Profile:
        """What was measured so far, as a :class:`Profile`."""
        handlers = sorted(
            (HandlerTime(r.event, r.handler, r.calls, r.seconds) for r in self._records.values() if r.calls),
            key=lambda entry: -entry.seconds,
        )
        merged: dict[tuple[str, str], HandlerTime] = {}
        for entry in handlers:  # the same function attached twice to one event is one row
            key = (entry.event, entry.handler)
            seen = merged.get(key)
            merged[key] = (
                entry
                if seen is None
                else HandlerTime(entry.event, entry.handler, seen.calls + entry.calls, seen.seconds + entry.seconds)
            )
        return Profile(
            data_loading=self._parts[_DATA],
            process_function=self._parts[_PROCESS],
            engine=self._parts[_ENGINE],
            handlers=tuple(sorted(merged.values(), key=lambda entry: -entry.seconds)),
            iterations=self._iterations,
        )

    def table(self) -> str:
        """:meth:`profile` as a text table."""
        return self.profile().table()

    def _write_table(self, engine: Engine) -> None:
        if self._file is not None:
            self._file.write(self.table() + "\n")

    def _wrap(self, event: Any, handler: Callable[..., Any], call: Callable[..., Any]) -> Callable[..., Any]:
        owner = getattr(handler, "__self__", handler)
        key = (event, _describe(handler), id(owner))
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record(_label(event), _describe(handler))
        perf_counter = time.perf_counter
        parts = self._parts
        is_iteration = event is Events.ITERATION_STARTED

        def timed(engine: Engine, *values: Any) -> Any:
            start = perf_counter()
            last = self._last_event
            if last is not event:
                if last is None or last in _RUN_LEFT:
                    if event is Events.STARTED:
                        self.reset()
                    last = None  # the time before this call was spent outside the run
                if is_iteration:
                    self._iterations += 1
            if last is not None:
                if last in _AFTER_EVENT:
                    part = _AFTER_EVENT[last]
                elif last in _BEFORE_FIRST_FETCH and event is Events.GET_BATCH_STARTED:
                    part = _DATA
                else:
                    part = _ENGINE
                parts[part] += start - self._last_end
            if isinstance(event, Events):  # custom events fired by the process function keep its phase
                self._last_event = event
            try:
                return call(engine, *values)
            finally:
                end = perf_counter()
                record.calls += 1
                record.seconds += end - start
                self._last_end = end

        return timed
