"""Stop a run once it has taken a given number of seconds, counted from its start."""

from __future__ import annotations

import logging
import numbers
import time
from collections.abc import Callable

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.handlers._attach import check_attach

__all__ = ["TimeLimit"]


class TimeLimit:
    """Terminate the run after the first iteration that ends ``seconds`` or more after the run started.

    Args:
        seconds: the time budget of a run, in seconds (> 0); 28800 (8 hours) by default.
            ``limit_sec`` is ignite's name for it; pass either.
        clock: the clock that measures it, in seconds; :func:`time.monotonic` by default (tests
            can pass a fake one).

    With :meth:`attach`, the count starts when the run fires ``STARTED``, not when the handler
    is created, and restarts with each run (a run resumed from a checkpoint gets a fresh budget; a run resumed
    after :meth:`~ember.engine.Engine.interrupt` does not fire ``STARTED`` and keeps counting,
    pause included). The check runs after each iteration, so a run stops within one iteration
    of the limit. A warning is logged, then ``TERMINATE`` and ``COMPLETED`` fire as usual.

    ignite's spelling works too: ``trainer.add_event_handler(Events.ITERATION_COMPLETED,
    TimeLimit(limit_sec=3600))``. Added that way, without :meth:`attach`, the count starts when
    the handler is created (as in ignite), since no ``STARTED`` handler restarts it.

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

    def __init__(
        self,
        seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        limit_sec: float | None = None,
    ) -> None:
        if seconds is not None and limit_sec is not None and seconds != limit_sec:
            raise ValueError(
                f"seconds={seconds!r} and limit_sec={limit_sec!r} were both given; they are two names of one setting "
                "(ember's and ignite's). Pass only one of them."
            )
        seconds = limit_sec if seconds is None else seconds
        if seconds is None:
            seconds = 28800
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
        # Until a STARTED handler restarts it, the count runs from the handler's creation, as in ignite.
        self._started_at: float = clock()
        #: where it reports: ``logging.getLogger("ember.handlers.time_limit.TimeLimit")``, as
        #: ignite's handler has one. ember leaves its configuration to the application.
        self.logger: logging.Logger = logging.getLogger(f"{__name__}.{type(self).__name__}")

    @property
    def limit_sec(self) -> float:
        """The time budget in seconds (ignite's name for :attr:`seconds`)."""
        return self.seconds

    def attach(self, engine: Engine) -> None:
        """Start counting at ``STARTED`` of ``engine`` and check the time after each iteration.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.
        """
        check_attach(
            "TimeLimit",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self, Events.ITERATION_COMPLETED),
            fix="Attach it once; create one TimeLimit per engine.",
        )
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def started(self) -> None:
        """Start counting the run's time now (called at ``STARTED``)."""
        self._started_at = self.clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the count started (at ``STARTED``, or at the handler's creation before that)."""
        return self.clock() - self._started_at

    def __call__(self, engine: Engine) -> None:
        """Terminate ``engine`` if the run has used up its time."""
        elapsed = self.clock() - self._started_at
        over = elapsed >= self.seconds
        if distributed.is_distributed():
            over = bool(distributed.all_reduce(torch.tensor(over), op="max"))
        if over:
            self.logger.warning(
                "TimeLimit: the run has taken %.1f s, reaching its limit of %s s at iteration %d; terminating it.",
                elapsed,
                self.seconds,
                engine.state.iteration,
            )
            engine.terminate()
