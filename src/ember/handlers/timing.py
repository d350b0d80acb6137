"""Timing handlers: :class:`Timer` (a stopwatch driven by events) and :class:`ThroughputMonitor`.

Both read :func:`time.perf_counter`, save their progress with ``state_dict()`` so that a resumed
run carries on counting, and refuse to be attached twice.
"""

from __future__ import annotations

import numbers
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events, EventsList, FilteredEvent
from ember.handlers._attach import check_attach, check_callable, is_attached
from ember.utils import iter_tensors

__all__ = ["ThroughputMonitor", "Timer", "batch_size_of"]


def _check_attach(engine: Any, attached: weakref.ref[Engine] | None, owner: str) -> None:
    check_attach(
        owner,
        engine,
        already=is_attached(attached),
        where="an engine",
        consequence="count every event twice",
        fix=f"Create one {owner} per engine and per measurement.",
    )


def _check_event(engine: Engine, name: str, event: Any) -> None:
    """Reject an unknown event before anything is attached, so a failed attach leaves no handler behind."""
    events = list(event) if isinstance(event, EventsList) else [event]
    for single in events:
        base = single.event if isinstance(single, FilteredEvent) else single
        if not engine.has_registered_events(base):
            raise ValueError(
                f"{name}={event!r} is not an event registered on this engine. Pass a member of Events "
                "(e.g. Events.ITERATION_COMPLETED), a filtered event, or a custom event registered with "
                "engine.register_events(...)."
            )


def _check_record(state: Any, keys: Mapping[str, Any], owner: str) -> None:
    if not isinstance(state, Mapping):
        raise TypeError(
            f"{owner}.load_state_dict expects a mapping, got {type(state).__name__}. "
            f"Pass a dict saved by {owner}.state_dict()."
        )
    missing = sorted(set(keys) - set(state))
    if missing:
        raise ValueError(
            f"The state dict misses the keys {missing} (it has {sorted(state)}). "
            f"Pass a dict saved by {owner}.state_dict()."
        )
    for key, kind in keys.items():
        value = state[key]
        what = "whole number" if kind is int else "number"
        if isinstance(value, bool) or not isinstance(value, kind):
            raise TypeError(
                f"state_dict[{key!r}] must be a {what}, got {value!r} ({type(value).__name__}). "
                f"Pass a dict saved by {owner}.state_dict()."
            )
        if value < 0:
            raise ValueError(
                f"state_dict[{key!r}] must be >= 0, got {value!r}. Pass a dict saved by {owner}.state_dict()."
            )


class Timer:
    """A stopwatch that events start, pause, resume and step: total time, or average time per step.

    Args:
        average: if True, :meth:`value` is the total time divided by the number of steps
            (e.g. the mean time per iteration); if False, the total time.

    Call the methods yourself, or let :meth:`attach` wire them to events. The average time of an
    iteration, not counting data loading or handlers of other events::

        timer = Timer(average=True).attach(
            trainer,
            start=Events.EPOCH_STARTED,
            resume=Events.ITERATION_STARTED,
            pause=Events.ITERATION_COMPLETED,
            step=Events.ITERATION_COMPLETED,
        )

    >>> timer = Timer(average=True)
    >>> timer.pause(); timer.step(); timer.step()
    >>> timer.value() == timer.total / 2
    True
    """

    def __init__(self, average: bool = False) -> None:
        if not isinstance(average, bool):
            raise TypeError(f"average must be True or False, got average={average!r} ({type(average).__name__}).")
        self.average = average
        self._elapsed = 0.0
        self._started_at: float | None = None
        self._steps = 0
        self._engine: weakref.ref[Engine] | None = None
        self.reset()

    def attach(
        self,
        engine: Engine,
        start: Any = Events.STARTED,
        pause: Any = Events.COMPLETED,
        resume: Any = None,
        step: Any = None,
    ) -> Timer:
        """Reset the timer on ``start``, pause it on ``pause``, resume it on ``resume``, count a step on ``step``.

        Each argument is an event (filtered events and ``|`` lists work too) or ``None`` to leave that
        action to the caller. The defaults (as in ignite) time the whole run, from ``STARTED`` to
        ``COMPLETED``. As in ignite, ``start`` resets the timer running, also with a ``resume``
        event: what comes between ``start`` and the first ``pause`` counts too (with ``start=
        EPOCH_STARTED, resume=ITERATION_STARTED``, the fetch of the epoch's first batch). Returns the
        timer, so it can be created and attached in one line.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            ValueError: an event is not registered on the engine, or no event is given at all.
            RuntimeError: the timer is already attached to an engine.
        """
        _check_attach(engine, self._engine, "Timer")
        wiring = [
            (name, event) for name, event in (("start", start), ("pause", pause), ("resume", resume), ("step", step))
        ]
        if all(event is None for _, event in wiring):
            raise ValueError(
                "Timer.attach got no event at all (start, pause, resume and step are all None), so it would never "
                "run. Pass at least start=..., e.g. start=Events.EPOCH_STARTED."
            )
        for name, event in wiring:
            if event is not None:
                _check_event(engine, name, event)
        actions = {"start": self.reset, "pause": self.pause, "resume": self.resume, "step": self.step}
        for name, event in wiring:
            if event is not None:
                engine.add_event_handler(event, actions[name])
        self._engine = weakref.ref(engine)
        return self

    def reset(self, *args: Any) -> Timer:
        """Set the time and the step count to zero and start running; returns the timer.

        Extra arguments (an engine, when a handler calls it) are ignored.
        """
        self._elapsed = 0.0
        self._steps = 0
        self._started_at = time.perf_counter()
        return self

    def pause(self, *args: Any) -> None:
        """Stop counting time until :meth:`resume`; does nothing if already paused."""
        if self._started_at is not None:
            self._elapsed += time.perf_counter() - self._started_at
            self._started_at = None

    def resume(self, *args: Any) -> None:
        """Count time again after :meth:`pause`; does nothing if running."""
        if self._started_at is None:
            self._started_at = time.perf_counter()

    def step(self, *args: Any) -> None:
        """Count one step (the divisor of :meth:`value` when ``average=True``)."""
        self._steps += 1

    @property
    def running(self) -> bool:
        """Whether the timer is counting time now."""
        return self._started_at is not None

    @property
    def is_running(self) -> bool:
        """Whether the timer is counting time now (the same as :attr:`running`)."""
        return self._started_at is not None

    @property
    def steps(self) -> int:
        """Steps counted since the last reset."""
        return self._steps

    @property
    def step_count(self) -> float:
        """Steps counted since the last reset, as a float (ignite's name and type for :attr:`steps`)."""
        return float(self._steps)

    @property
    def total(self) -> float:
        """Seconds of the finished stretches since the last reset (as in ignite, the running one is not in it).

        :meth:`value` adds the running stretch.
        """
        return self._elapsed

    def _counted(self) -> float:
        if self._started_at is None:
            return self._elapsed
        return self._elapsed + time.perf_counter() - self._started_at

    def value(self) -> float:
        """Seconds counted, the running stretch included: the total, or with ``average=True`` the total per step.

        While no step was counted, the average is the total.
        """
        counted = self._counted()
        return counted / max(self._steps, 1) if self.average else counted

    def state_dict(self) -> dict[str, Any]:
        """The time (the running stretch included) and steps counted so far, for checkpoints."""
        return {"elapsed": self._counted(), "steps": self._steps}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`; the timer is paused until the next resume or reset.

        Raises:
            TypeError: ``state_dict`` is not a mapping, or a value is not a number.
            ValueError: a key is missing or a value is negative.
        """
        _check_record(state_dict, {"elapsed": numbers.Real, "steps": int}, "Timer")
        self._elapsed = float(state_dict["elapsed"])
        self._steps = int(state_dict["steps"])
        self._started_at = None


def batch_size_of(batch: Any) -> int:
    """The number of samples in ``batch``: the first dimension of its first tensor, or its length.

    Nested batches (tuples, lists, dicts of tensors) are searched for their first tensor; a
    0-dimensional tensor counts as one sample. A list or tuple without tensors counts its items.

    >>> import torch
    >>> batch_size_of((torch.zeros(32, 3), torch.zeros(32)))
    32
    >>> batch_size_of(["a", "b", "c"])
    3
    """
    for _, tensor in iter_tensors(batch):
        return int(tensor.shape[0]) if tensor.dim() else 1
    if isinstance(batch, (list, tuple)):
        return len(batch)
    raise TypeError(
        f"Cannot tell the batch size of a {type(batch).__name__} without tensors. Pass batch_size=fn to "
        "ThroughputMonitor, a function that returns the number of samples in a batch."
    )


class ThroughputMonitor:
    """Measures samples per second and iterations per second over each epoch.

    Args:
        batch_size: a function ``batch -> int`` giving the number of samples in a batch; by default
            :func:`batch_size_of` (first dimension of the batch's first tensor).

    Once attached, the rates of the epoch so far are :attr:`samples_per_second` and
    :attr:`iterations_per_second`; at each ``EPOCH_COMPLETED`` they are written to
    ``engine.state.metrics["samples_per_second"]`` and ``["iterations_per_second"]`` (so loggers and
    the progress bar can show them), and the clock stops until the next epoch starts. The clock is
    the wall clock from the epoch's start: data loading and handlers count, as they do for the user
    waiting for the epoch. An interrupted run stops the clock; it starts again with the first
    iteration after the run resumes.

    Under ``torch.distributed`` the published ``samples_per_second`` is the job's: the samples of
    all processes, summed, over the longest of their epoch times (two small all-reduces per
    epoch, at ``EPOCH_COMPLETED``, which every process reaches); :attr:`global_samples` holds that
    sum. ``iterations_per_second`` stays per process (the processes run their iterations in
    lockstep), as do :attr:`samples` and the live :attr:`samples_per_second`.

    Example::

        monitor = ThroughputMonitor()
        monitor.attach(trainer)
        trainer.run(loader, max_epochs=2)
        print(trainer.state.metrics["samples_per_second"])

    >>> engine = Engine()
    >>> monitor = ThroughputMonitor(batch_size=len).attach(engine)
    >>> _ = engine.run([[1, 2, 3], [4, 5, 6]])
    >>> monitor.samples, monitor.iterations, engine.state.metrics["samples_per_second"] > 0
    (6, 2, True)
    """

    METRIC_NAMES = ("samples_per_second", "iterations_per_second")

    def __init__(self, batch_size: Callable[[Any], int] | None = None) -> None:
        if batch_size is not None and not callable(batch_size):
            raise TypeError(
                f"batch_size must be a function batch -> number of samples, got {batch_size!r} "
                f"({type(batch_size).__name__})."
            )
        if batch_size is not None:
            check_callable(batch_size, "batch_size", "batch_size(batch)", "lambda batch: len(batch['ids'])")
        self._batch_size = batch_size or batch_size_of
        self._engine: weakref.ref[Engine] | None = None
        #: samples of all processes in the last published epoch (``None`` before the first one)
        self.global_samples: int | None = None
        self.samples = 0
        self.iterations = 0
        self._elapsed = 0.0
        self._started_at: float | None = None

    def attach(self, engine: Engine) -> ThroughputMonitor:
        """Count every iteration of ``engine`` and publish the rates at each epoch's end; returns self.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the monitor is already attached to an engine.
        """
        _check_attach(engine, self._engine, "ThroughputMonitor")
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.STARTED, self._start_clock)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._count)
        engine.add_event_handler(Events.INTERRUPT | Events.COMPLETED, self._stop_clock)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._publish)
        self._engine = weakref.ref(engine)
        return self

    def reset(self) -> None:
        """Forget what was counted and start the clock now (called at each ``EPOCH_STARTED``)."""
        self.samples = self.iterations = 0
        self._elapsed = 0.0
        self._started_at = time.perf_counter()

    def update(self, batch: Any) -> None:
        """Count one iteration over ``batch``."""
        if self._started_at is None:  # first iteration after an interrupted run resumed
            self._started_at = time.perf_counter()
        self.samples += self._batch_size(batch)
        self.iterations += 1

    @property
    def elapsed(self) -> float:
        """Seconds on the clock for the current window."""
        if self._started_at is None:
            return self._elapsed
        return self._elapsed + time.perf_counter() - self._started_at

    @property
    def samples_per_second(self) -> float:
        """Samples counted per second of the window so far (0.0 before any time passed)."""
        elapsed = self.elapsed
        return self.samples / elapsed if elapsed > 0 else 0.0

    @property
    def iterations_per_second(self) -> float:
        """Iterations counted per second of the window so far (0.0 before any time passed)."""
        elapsed = self.elapsed
        return self.iterations / elapsed if elapsed > 0 else 0.0

    def state_dict(self) -> dict[str, Any]:
        """Samples, iterations and seconds counted in the current epoch, for checkpoints."""
        return {"samples": self.samples, "iterations": self.iterations, "elapsed": self.elapsed}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue counting from a saved :meth:`state_dict` (the clock restarts when the run does).

        Raises:
            TypeError: ``state_dict`` is not a mapping, or a value is not a number.
            ValueError: a key is missing or a value is negative.
        """
        _check_record(
            state_dict,
            {"samples": int, "iterations": int, "elapsed": numbers.Real},
            "ThroughputMonitor",
        )
        self.samples = int(state_dict["samples"])
        self.iterations = int(state_dict["iterations"])
        self._elapsed = float(state_dict["elapsed"])
        self._started_at = None

    def _start_clock(self, engine: Engine) -> None:
        self._started_at = time.perf_counter()

    def _stop_clock(self, engine: Engine) -> None:
        self._elapsed = self.elapsed
        self._started_at = None

    def _count(self, engine: Engine) -> None:
        self.update(engine.state.batch)

    def _publish(self, engine: Engine) -> None:
        self._stop_clock(engine)  # the epoch's window is closed: its rates no longer change
        samples, elapsed = self.samples, self._elapsed
        if distributed.is_distributed():
            samples = int(distributed.all_reduce(torch.tensor(samples, dtype=torch.int64), op="sum").item())
            elapsed = float(distributed.all_reduce(torch.tensor(elapsed, dtype=torch.float64), op="max").item())
        self.global_samples = samples
        metrics = engine.state.metrics
        metrics["samples_per_second"] = samples / elapsed if elapsed > 0 else 0.0
        metrics["iterations_per_second"] = self.iterations_per_second
