"""Where an engine is in its life and which stop was asked for: the values the loop and the stop API share."""

from __future__ import annotations

import enum


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
# The state dict's ``iteration_step``: the last event of the iteration under way, where the run goes on within it.
_LAST_EVENT_BEFORE = {
    _Next.FETCH: "get_batch_started",
    _Next.COUNT: "get_batch_completed",
    _Next.PROCESS: "iteration_started",
}


class _StopSignal(Exception):
    """Carries an honoured stop request from the point it is seen to the loop level that acts on it."""

    def __init__(self, kind: _Stop, skip_completed: bool = False) -> None:
        super().__init__(kind.name)
        self.kind = kind
        self.skip_completed = skip_completed


def _misplaced_terminate_epoch(where: str) -> RuntimeError:
    return RuntimeError(
        f"terminate_epoch() was called from {where}, where no epoch's iterations are running. "
        "Call it from the process function or from a handler of an iteration event (e.g. "
        "ITERATION_COMPLETED); use terminate() to stop the whole run."
    )
