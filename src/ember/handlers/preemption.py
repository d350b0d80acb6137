"""Preemption: on SIGTERM, finish the iteration, write a checkpoint, and exit with a documented status.

Cluster schedulers (Slurm, Kubernetes, spot instances) announce a preemption with SIGTERM and kill
the process a little later. :class:`PreemptionHandler` turns that signal into an orderly stop: the
engine is interrupted once the current event's handlers are done (so the iteration in progress
finishes), the checkpoint is written and made durable, and the process exits with
:data:`PREEMPTED_EXIT_CODE`, so a job script can tell "preempted, requeue me" from success (0) and
failure. A restarted job resumes with :func:`~ember.handlers.resume_from_latest`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

from ember import distributed
from ember.engine import Engine, Events, RemovableEventHandle
from ember.handlers.checkpoint import Checkpoint

__all__ = ["PREEMPTED_EXIT_CODE", "PreemptionHandler"]

logger = logging.getLogger(__name__)

#: Exit status of a run stopped by a preemption signal after its checkpoint was written: 75, which
#: ``sysexits.h`` names ``EX_TEMPFAIL`` ("temporary failure; try again").
PREEMPTED_EXIT_CODE = 75


class PreemptionHandler:
    """Checkpoints the run and exits with :data:`PREEMPTED_EXIT_CODE` when a preemption signal arrives.

    Args:
        checkpoint: the :class:`~ember.handlers.Checkpoint` to write (it should hold the engine, the
            data loader and an :class:`~ember.handlers.RNGStates` for an exact resume).
        signals: the signals that mean "preempted"; SIGTERM by default (add ``signal.SIGINT`` or
            ``signal.SIGUSR1`` as a scheduler needs).
        exit_code: the status to exit with; ``None`` to return from ``run()`` instead (the run is
            then interrupted: :attr:`preempted` is set and another ``run()`` call continues it).
        sync_every: under ``torch.distributed``, how many iterations apart the ranks compare notes.

    Under ``torch.distributed`` the ranks take one decision together: a signal only marks its rank,
    and every ``sync_every`` iterations all ranks combine their marks in one small all-reduce; if
    any rank was signalled, all of them stop after that same iteration, all reach the checkpoint
    (whose file rank 0 writes) and all exit. So a SIGTERM that reaches the ranks in different
    iterations, or only one of them, never leaves a rank waiting in a collective the others left.

    The signal handlers are installed when the run starts (``STARTED``) and the previous ones are
    put back when it ends, so importing or constructing this changes nothing. Signal handlers can
    only be installed from the main thread.

    >>> import tempfile, torch
    >>> from ember import Engine, Events
    >>> from ember.handlers import Checkpoint
    >>> trainer = Engine(lambda engine, batch: None)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     handler = PreemptionHandler(Checkpoint({"trainer": trainer}, folder), exit_code=None)
    ...     handler.attach(trainer)
    ...     _ = trainer.run(range(3))
    ...     handler.preempted
    False
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        signals: Iterable[signal.Signals] = (signal.SIGTERM,),
        exit_code: int | None = PREEMPTED_EXIT_CODE,
        sync_every: int = 1,
    ) -> None:
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(
                f"checkpoint must be an ember.handlers.Checkpoint, got {type(checkpoint).__name__}. "
                "Build one with the objects to save and a folder."
            )
        try:
            self.signals = tuple(signal.Signals(number) for number in signals)
        except ValueError as error:
            raise ValueError(
                f"signals must be signal numbers such as signal.SIGTERM, got {list(signals)!r} ({error}). "
                "Pass members of the signal module."
            ) from None
        if not self.signals:
            raise ValueError("signals is empty: pass at least one signal, e.g. (signal.SIGTERM,).")
        if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
            raise TypeError(f"exit_code must be an integer or None, got {exit_code!r}.")
        if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
            raise ValueError(f"sync_every must be a positive integer number of iterations, got {sync_every!r}.")
        self.checkpoint = checkpoint
        self.exit_code = exit_code
        self.sync_every = sync_every
        self._agreed = False
        self._sync_handle: RemovableEventHandle | None = None
        self.preempted = False
        self.received: signal.Signals | None = None
        self._engine: Engine | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def attach(self, engine: Engine) -> None:
        """Install the signal handlers while ``engine`` runs, and checkpoint on the interruption they cause."""
        engine.add_event_handler(Events.STARTED, self._install)
        engine.add_event_handler(Events.INTERRUPT, self._on_interrupt)
        engine.add_event_handler(Events.COMPLETED, self._restore)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._restore_on_failure)

    def _install(self, engine: Engine) -> None:
        if not self.checkpoint.to_save:
            # a ModelCheckpoint wired by add_event_handler learns its objects at its first save: too late here
            raise RuntimeError(
                "PreemptionHandler's checkpoint has no objects to save yet: a ModelCheckpoint attached with "
                "engine.add_event_handler(event, handler, to_save) learns them only at its first save. Attach it "
                "with ModelCheckpoint.attach(engine, event, to_save) instead."
            )
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                f"PreemptionHandler installs signal handlers, which Python allows only from the main thread; this "
                f"run is in the thread {threading.current_thread().name!r}. Run the trainer in the main thread, or "
                "leave the PreemptionHandler out of runs in other threads."
            )
        self._engine = engine
        self.preempted = False
        self.received = None
        self._agreed = False
        if distributed.get_world_size() > 1 and self._sync_handle is None:
            # the ranks stop together at a sync point; a signal alone interrupts nothing
            self._sync_handle = engine.add_event_handler(
                Events.ITERATION_COMPLETED(every=self.sync_every), self._agree_to_stop
            )
        for number in self.signals:
            if number not in self._previous:
                self._previous[number] = signal.signal(number, self._on_signal)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        # runs between two bytecodes of the training thread: only record and ask for a stop here
        if self.received is not None or self._engine is None:
            return
        self.received = signal.Signals(number)
        if self._sync_handle is None:
            self._engine.interrupt()

    def _agree_to_stop(self, engine: Engine) -> None:
        # every rank reaches this at the same iteration, so the all-reduce never waits for a rank that left
        if distributed.all_reduce(int(self.received is not None), op="MAX"):
            self._agreed = True
            engine.interrupt()

    def _restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
        self._engine = None
        if self._sync_handle is not None:
            self._sync_handle.remove()
            self._sync_handle = None

    def _restore_on_failure(self, engine: Engine, exception: BaseException) -> None:
        self._restore()

    def _on_interrupt(self, engine: Engine) -> None:
        if self.received is None and not self._agreed:
            return  # someone else interrupted the run
        self.preempted = True
        logger.warning(
            "%s at iteration %d: writing a checkpoint before stopping.",
            f"Received {self.received.name}" if self.received is not None else "Another rank received a signal",
            engine.state.iteration,
        )
        self.checkpoint(engine)
        self.checkpoint.wait()
        if self.exit_code is None:
            # run() returns and a later run() continues without firing STARTED: stay installed for it
            self.received = None
            self._agreed = False
            return
        self._restore()
        logger.warning("Checkpoint written; exiting with status %d (preempted).", self.exit_code)
        raise SystemExit(self.exit_code)
