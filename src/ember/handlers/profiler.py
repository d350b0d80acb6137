"""Where a run's time goes: per handler, per event, data loading, the process function, the engine.

How it measures: the profiler routes every handler call through a handler wrapper of the engine
(:meth:`Engine.add_handler_wrapper <ember.engine.Engine.add_handler_wrapper>`, which leaves other
tools' wrappers in place) and notes when each call starts and ends. It also attaches an empty marker
handler to each built-in event, so that every event of the run leaves a timestamp. The time between
two consecutive handler calls belongs to what the engine did between them: after
``GET_BATCH_STARTED`` it fetched a batch, after ``ITERATION_STARTED`` it ran the process function,
otherwise it did its own bookkeeping. These intervals and the handler calls tile the run without
gaps or overlaps, so their sum is the run's wall time, from the first handler call of the run to the
last.

ignite's two profilers are this one with ignite's reports: :class:`BasicTimeProfiler` (time per
event, per iteration) and :class:`HandlersTimeProfiler` (time per handler), each with
``get_results()``, ``print_results(results)`` and ``write_results(path)`` (a CSV file).
"""

from __future__ import annotations

import csv
import math
import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach, is_attached

__all__ = ["BasicTimeProfiler", "HandlerTime", "HandlersProfiler", "HandlersTimeProfiler", "Profile"]

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
    __slots__ = ("calls", "durations", "event", "handler", "seconds")

    def __init__(self, event: str, handler: str) -> None:
        self.event = event
        self.handler = handler
        self.calls = 0
        self.seconds = 0.0
        self.durations: list[float] = []  # one per call, for ignite's per-call statistics


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

    The profiler adds a handler wrapper to the engine (other wrappers, such as a tracer's, stay);
    :meth:`detach` removes it. Profiling adds a few microseconds per iteration (the markers and the
    timing calls); they are counted under ``engine`` and the marker rows.

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
        self._wrapper_handle: Any = None
        # Per iteration (for ignite's statistics): process function, data loading, (epoch, iteration).
        self._processing_times: list[float] = []
        self._dataflow_times: list[float] = []
        self._iteration_counters: list[tuple[int, int]] = []
        self._pending = {_DATA: 0.0, _PROCESS: 0.0}
        # Per built-in event, the handlers' time of each firing (markers excluded).
        self._firings: dict[Any, list[float]] = {}

    def attach(self, engine: Engine, file: TextIO | None = None) -> None:
        """Start profiling ``engine``; with ``file``, write the table there when the run completes.

        Raises:
            TypeError: ``engine`` is not an Engine, or ``file`` has no ``write`` method.
            RuntimeError: the profiler is already attached (use one profiler per engine).
        """
        owner = type(self).__name__
        check_attach(
            owner,
            engine,
            already=is_attached(self._engine),
            where="an engine",
            fix="Create one profiler per engine, or call detach() first.",
        )
        if file is not None and not callable(getattr(file, "write", None)):
            raise TypeError(f"file must be a text stream with a write method, got {file!r} ({type(file).__name__}).")
        self._engine = weakref.ref(engine)
        self._file = file
        for event in _MARKED_EVENTS:
            engine.add_event_handler(event, _marker)
        engine.add_event_handler(Events.EXCEPTION_RAISED, _exception_marker)
        if file is not None:
            engine.add_event_handler(Events.COMPLETED, self._write_table)
        self._wrapper_handle = engine.add_handler_wrapper(self._wrap)

    def detach(self) -> None:
        """Stop profiling: remove the markers and the handler wrapper; the profile so far stays readable."""
        engine = self._engine() if self._engine is not None else None
        self._engine = None
        if engine is None:
            return
        if self._wrapper_handle is not None:
            self._wrapper_handle.remove()
            self._wrapper_handle = None
        for event in _MARKED_EVENTS:
            engine.remove_event_handler(_marker, event)
        engine.remove_event_handler(_exception_marker, Events.EXCEPTION_RAISED)
        if engine.has_event_handler(self._write_table, Events.COMPLETED):
            engine.remove_event_handler(self._write_table, Events.COMPLETED)

    def reset(self) -> None:
        """Forget what was measured (done automatically when a new run starts)."""
        for record in self._records.values():
            record.calls, record.seconds = 0, 0.0
            record.durations.clear()
        for part in self._parts:  # in place: the wrapped handlers hold these
            self._parts[part] = 0.0
        for part in self._pending:
            self._pending[part] = 0.0
        for firings in self._firings.values():
            firings.clear()
        self._processing_times.clear()
        self._dataflow_times.clear()
        self._iteration_counters.clear()
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
        parts, pending = self._parts, self._pending
        is_iteration = event is Events.ITERATION_STARTED
        is_builtin = isinstance(event, Events)
        # The handlers' time of each firing of a built-in event; the profiler's own calls are left out.
        firings = self._firings.setdefault(event, []) if is_builtin else None
        counts = firings is not None and handler not in (_marker, _exception_marker, self._write_table)
        flush = {Events.GET_BATCH_COMPLETED: _DATA, Events.ITERATION_COMPLETED: _PROCESS}.get(event)
        per_iteration = {_DATA: self._dataflow_times, _PROCESS: self._processing_times}
        durations = record.durations

        def timed(engine: Engine, *values: Any) -> Any:
            start = perf_counter()
            last = self._last_event
            if last is not event:  # the first call of this firing
                if last is None or last in _RUN_LEFT:
                    if event is Events.STARTED:
                        self.reset()
                    last = None  # the time before this call was spent outside the run
                if is_iteration:
                    self._iterations += 1
                    self._iteration_counters.append((engine.state.epoch, engine.state.iteration))
                if firings is not None:
                    firings.append(0.0)
            if last is not None:
                if last in _AFTER_EVENT:
                    part = _AFTER_EVENT[last]
                elif last in _BEFORE_FIRST_FETCH and event is Events.GET_BATCH_STARTED:
                    part = _DATA
                else:
                    part = _ENGINE
                interval = start - self._last_end
                parts[part] += interval
                if part in pending:
                    pending[part] += interval
            if flush is not None and last is not event:
                per_iteration[flush].append(pending[flush])
                pending[flush] = 0.0
            if is_builtin:  # custom events fired by the process function keep its phase
                self._last_event = event
            try:
                return call(engine, *values)
            finally:
                end = perf_counter()
                record.calls += 1
                record.seconds += end - start
                durations.append(end - start)
                if counts:
                    firings[-1] += end - start  # type: ignore[index]
                self._last_end = end

        return timed


# ---------------------------------------------------------------- ignite's reports on the same measurements

# The events ignite's BasicTimeProfiler reports, in its order.
_BASIC_EVENTS = (
    Events.STARTED,
    Events.EPOCH_STARTED,
    Events.ITERATION_STARTED,
    Events.ITERATION_COMPLETED,
    Events.EPOCH_COMPLETED,
    Events.COMPLETED,
    Events.GET_BATCH_STARTED,
    Events.GET_BATCH_COMPLETED,
)
_NOT_TRIGGERED = "not yet triggered"


def _stats(times: Sequence[float], rounded: bool = False) -> dict[str, Any]:
    """ignite's statistics of a series of durations, over its non-zero entries (indices into those)."""
    data = [value for value in times if value > 0]

    def fmt(value: float) -> float:
        return round(value, 5) if rounded else value

    if not data:
        return {"total": _NOT_TRIGGERED}
    stats: dict[str, Any] = {"total": fmt(sum(data))}
    smallest = min(range(len(data)), key=data.__getitem__)
    largest = max(range(len(data)), key=data.__getitem__)
    stats["min/index"] = (fmt(data[smallest]), smallest)
    stats["max/index"] = (fmt(data[largest]), largest)
    mean = sum(data) / len(data)
    stats["mean"] = fmt(mean)
    if len(data) > 1:
        stats["std"] = fmt(math.sqrt(sum((value - mean) ** 2 for value in data) / (len(data) - 1)))
    return stats


def _seconds(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{value[0]:.5f}/{value[1]}"
    return f"{value:.5f}" if isinstance(value, float) else str(value)


class BasicTimeProfiler(HandlersProfiler):
    """ignite's ``BasicTimeProfiler``: the time of the process function, data loading and each event's handlers.

    It measures as :class:`HandlersProfiler` does (it is one); the reports are ignite's.

    >>> engine = Engine(lambda engine, batch: None)
    >>> profiler = BasicTimeProfiler()
    >>> profiler.attach(engine)
    >>> _ = engine.run(range(4), max_epochs=2)
    >>> results = profiler.get_results()
    >>> sorted(results)
    ['dataflow_stats', 'event_handlers_names', 'event_handlers_stats', 'processing_stats']
    >>> results["processing_stats"]["total"] > 0
    True
    """

    def get_results(self) -> dict[str, dict[str, Any]]:
        """Statistics (``total``, ``min/index``, ``max/index``, ``mean``, ``std``) in seconds.

        Keys: ``processing_stats`` and ``dataflow_stats`` (one value per iteration),
        ``event_handlers_stats`` (per event, one value per firing, the time of all its handlers;
        plus ``total_time``) and ``event_handlers_names`` (``"<EVENT>_names"``: the handlers).
        Statistics are over non-zero values; an event that never fired reads ``"not yet triggered"``.
        """
        events_stats: dict[str, Any] = {}
        total = 0.0
        for event in _BASIC_EVENTS:
            firings = self._firings.get(event, [])
            events_stats[event.name] = _stats(firings)
            total += sum(firings)
        events_stats["total_time"] = total
        names: dict[str, list[str]] = {f"{event.name}_names": [] for event in _BASIC_EVENTS}
        for (event, name, _), _record in self._records.items():
            if event in _BASIC_EVENTS and name != "(profiler marker)" and not name.endswith("._write_table"):
                listed = names[f"{event.name}_names"]
                if name not in listed:
                    listed.append(name)
        return {
            "processing_stats": _stats(self._processing_times),
            "dataflow_stats": _stats(self._dataflow_times),
            "event_handlers_stats": events_stats,
            "event_handlers_names": names,
        }

    @staticmethod
    def print_results(results: dict[str, dict[str, Any]]) -> str:
        """Print ``get_results()`` as text (and return that text)."""

        def row(stats: Any) -> str:
            if isinstance(stats, dict):
                return " | ".join(_seconds(value) for value in stats.values())
            return _seconds(stats)

        handlers, names = results["event_handlers_stats"], results["event_handlers_names"]
        lines = [
            "Time profiling stats (in seconds)",
            "total | min/index | max/index | mean | std",
            "",
            "Processing function:",
            row(results["processing_stats"]),
            "",
            "Dataflow:",
            row(results["dataflow_stats"]),
            "",
            "Event handlers:",
            row(handlers["total_time"]),
        ]
        for event in _BASIC_EVENTS:
            if event.name in handlers:
                lines += [
                    "",
                    f"- Events.{event.name}: {names.get(f'{event.name}_names', [])}",
                    row(handlers[event.name]),
                ]
        text = "\n".join(lines) + "\n"
        print(text)
        return text

    def write_results(self, output_path: str | os.PathLike[str]) -> None:
        """Write one CSV row per iteration: epoch, iteration, process function and data loading time,
        and the handlers' time of each event (an epoch's events repeated on each of its iterations)."""
        columns = [
            "epoch",
            "iteration",
            "processing_stats",
            "dataflow_stats",
            *(f"Event_{event.name}" for event in _COLUMN_EVENTS),
        ]
        firings = {event: self._firings.get(event, []) for event in _COLUMN_EVENTS}

        def at(event: Any, index: int) -> float:
            values = firings[event]
            return values[index] if index < len(values) else 0.0

        with open(output_path, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            for index, (epoch, iteration) in enumerate(self._iteration_counters):
                per_epoch = epoch - self._iteration_counters[0][0]
                writer.writerow(
                    [
                        epoch,
                        iteration,
                        _at(self._processing_times, index),
                        _at(self._dataflow_times, index),
                        at(Events.STARTED, 0),
                        at(Events.COMPLETED, 0),
                        at(Events.EPOCH_STARTED, per_epoch),
                        at(Events.EPOCH_COMPLETED, per_epoch),
                        at(Events.ITERATION_STARTED, index),
                        at(Events.ITERATION_COMPLETED, index),
                        at(Events.GET_BATCH_STARTED, index),
                        at(Events.GET_BATCH_COMPLETED, index),
                    ]
                )


# ignite's column order in BasicTimeProfiler.write_results
_COLUMN_EVENTS = (
    Events.STARTED,
    Events.COMPLETED,
    Events.EPOCH_STARTED,
    Events.EPOCH_COMPLETED,
    Events.ITERATION_STARTED,
    Events.ITERATION_COMPLETED,
    Events.GET_BATCH_STARTED,
    Events.GET_BATCH_COMPLETED,
)


def _at(values: Sequence[float], index: int) -> float:
    return values[index] if index < len(values) else 0.0


class HandlersTimeProfiler(HandlersProfiler):
    """ignite's ``HandlersTimeProfiler``: the time of each handler, the process function and data loading.

    It measures as :class:`HandlersProfiler` does (it is one); the reports are ignite's.

    >>> engine = Engine(lambda engine, batch: None)
    >>> _ = engine.add_event_handler(Events.EPOCH_COMPLETED, lambda: None)
    >>> profiler = HandlersTimeProfiler()
    >>> profiler.attach(engine)
    >>> _ = engine.run(range(4), max_epochs=2)
    >>> [row[:2] for row in profiler.get_results()]
    [['<lambda>', 'EPOCH_COMPLETED'], ['Total', ''], ['Processing', 'None'], ['Dataflow', 'None']]
    """

    def _handler_series(self) -> dict[tuple[str, str], list[float]]:
        series: dict[tuple[str, str], list[float]] = {}
        for record in self._records.values():
            if record.handler == "(profiler marker)" or record.handler.endswith("._write_table"):
                continue
            series.setdefault((record.handler, record.event), []).extend(record.durations)
        return series

    def get_results(self) -> list[list[Any]]:
        """One row per handler and event: ``[handler, event, total, (min, index), (max, index), mean, std]``.

        Then ``["Total", "", seconds in handlers, "", "", "", ""]``, and rows ``Processing`` and
        ``Dataflow`` (per iteration). Values in seconds, rounded to 5 digits, over non-zero calls;
        a handler never called reads ``"not triggered"``.
        """

        def row(times: Sequence[float]) -> list[Any]:
            stats = _stats(times, rounded=True)
            if stats["total"] == _NOT_TRIGGERED:
                return ["not triggered", ("None", "None"), ("None", "None"), "None", "None"]
            return [stats["total"], stats["min/index"], stats["max/index"], stats["mean"], stats.get("std", "None")]

        series = self._handler_series()
        rows: list[list[Any]] = [[handler, event, *row(times)] for (handler, event), times in series.items()]
        total = round(sum(sum(times) for times in series.values()), 5)
        rows.append(["Total", "", total, "", "", "", ""])
        rows.append(["Processing", "None", *row(self._processing_times)])
        rows.append(["Dataflow", "None", *row(self._dataflow_times)])
        return rows

    @staticmethod
    def print_results(results: list[list[Any]]) -> str:
        """Print ``get_results()`` as a table (and return its text)."""
        headers = ["Handler", "Event Name", "Total(s)", "Min(s)/IDX", "Max(s)/IDX", "Mean(s)", "Std(s)"]
        *handlers, total, processing, dataflow = results
        cells = [
            [str(value) if not isinstance(value, tuple) else f"{value[0]}/{value[1]}" for value in r] for r in handlers
        ]
        widths = [max([len(headers[0]), *(len(str(r[0])) for r in results)]) + 2]
        widths.append(max([len(headers[1]), *(len(str(r[1])) for r in results)]) + 2)
        widths += [14] * 5
        rule = "  ".join("-" * width for width in widths)

        def line(values: Sequence[Any]) -> str:
            return "  ".join(
                f"{value!s:<{width}}" if column < 2 else f"{value!s:>{width}}"
                for column, (value, width) in enumerate(zip(values, widths, strict=True))
            )

        lines = [rule, line(headers), rule, *(line(r) for r in cells), rule, line(total), rule]
        for name, row in (("Processing", processing), ("Dataflow", dataflow)):
            _, _, seconds, smallest, largest, mean, std = row
            lines.append(
                f"{name} took total {seconds}s [min/index: {smallest[0]}s/{smallest[1]}, "
                f"max/index: {largest[0]}s/{largest[1]}, mean: {mean}s, std: {std}s]"
            )
        text = "\n".join(lines) + "\n"
        print(text)
        return text

    def write_results(self, output_path: str | os.PathLike[str]) -> None:
        """Write every measured call as CSV: a count column ``#``, ``processing_stats``, ``dataflow_stats``, then
        one column per handler, ``"<handler> (<EVENT>)"``; shorter columns are padded with zeros."""
        series = self._handler_series()
        columns = [self._processing_times, self._dataflow_times, *series.values()]
        headers = ["#", "processing_stats", "dataflow_stats", *(f"{h} ({e})" for h, e in series)]
        length = max((len(column) for column in columns), default=0)
        with open(output_path, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(headers)
            for index in range(length):
                writer.writerow([index + 1, *(_at(column, index) for column in columns)])
