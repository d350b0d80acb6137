"""Stop a run once it has taken a given number of seconds, counted from its start."""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Callable

import torch

from ember import distributed
from ember.engine import Engine, Events

__all__ = ["TimeLimit"]

_logger = logging.getLogger(__name__)


class TimeLimit:
    """Terminate the run after the first iteration that ends ``seconds`` or more after the run started.

    Args:
        seconds: the time budget of a run, in seconds (> 0).
        clock: the clock that measures it, in seconds; :func:`time.monotonic` by default (tests
            can pass a fake one).

    The count starts when the run fires ``STARTED``, not when the handler is created, and
    restarts with each run (a run resumed from a checkpoint gets a fresh budget; a run resumed
    after :meth:`~ember.engine.Engine.interrupt` does not fire ``STARTED`` and keeps counting,
    pause included). The check runs after each iteration, so a run stops within one iteration
    of the limit. A warning is logged, then ``TERMINATE`` and ``COMPLETED`` fire as usual.

    Under ``torch.distributed`` each process reads its own clock, so the processes agree on the
    decision with one small all-reduce per check (every process reaches it, at the same
    iteration): all of them stop after the same iteration, and none is left waiting in a
    collective for a process that has stopped.

    >>> now = iter(range(100)).__next__  # a fake clock: one second per reading
    >>> trainer = Engine(lambda engine, batch: None)
    >>> TimeLimit(3, clock=now).attach(trainer)
    >>> trainer.run([0] * 10).iteration
    3
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
            raise TypeError(
                f"seconds must be a number, got seconds={seconds!r} ({type(seconds).__name__}). "
                "Pass the time budget of the run in seconds, e.g. seconds=3600."
            )
        if not seconds > 0:
            raise ValueError(
                f"seconds must be > 0, got seconds={seconds}. Pass the time budget of the run in seconds, "
                "e.g. seconds=3600, or do not attach a TimeLimit."
            )
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {type(clock).__name__}.")
        self.seconds: float = float(seconds)
        self.clock: Callable[[], float] = clock
        self._started_at: float | None = None

    def attach(self, engine: Engine) -> None:
        """Start counting at ``STARTED`` of ``engine`` and check the time after each iteration.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.
        """
        if not isinstance(engine, Engine):
            raise TypeError(
                f"TimeLimit.attach expects an ember Engine, got {engine!r} ({type(engine).__name__}). "
                "Pass the engine whose run should be limited."
            )
        if engine.has_event_handler(self, Events.ITERATION_COMPLETED):
            raise RuntimeError(
                "This TimeLimit is already attached to this engine. Attach it once; create one TimeLimit per engine."
            )
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def started(self) -> None:
        """Start counting the run's time now (called at ``STARTED``)."""
        self._started_at = self.clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (0 before it has)."""
        return 0.0 if self._started_at is None else self.clock() - self._started_at

    def __call__(self, engine: Engine) -> None:
        """Terminate ``engine`` if the run has used up its time.

        Raises:
            RuntimeError: the count was never started (neither ``STARTED`` fired nor :meth:`started` was called).
        """
        if self._started_at is None:
            raise RuntimeError(
                "TimeLimit was asked to check the time before the run started. Attach it with "
                "TimeLimit.attach(engine), which starts the count at Events.STARTED, or call started() first."
            )
        elapsed = self.clock() - self._started_at
        over = elapsed >= self.seconds
        if distributed.is_distributed():
            over = bool(distributed.all_reduce(torch.tensor(over), op="max"))
        if over:
            _logger.warning(
                "TimeLimit: the run has taken %.1f s, reaching its limit of %s s at iteration %d; terminating it.",
                elapsed,
                self.seconds,
                engine.state.iteration,
            )
            engine.terminate()
