"""A debugging aid for distributed runs: check that every rank fires the same events, in the same order.

Ranks that take different paths through a run (one stops early, one runs an extra iteration, a
handler fires on one rank only) usually show up as a hang: one rank waits in a collective the
others never reach. :class:`EventSyncCheck` compares every rank's events as they fire and turns the
first divergence into an error that shows what each rank was doing.

It is a handler, so it lives among the handlers; ``ember.distributed.EventSyncCheck`` (its first
home) still works, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events

__all__ = ["EventSyncCheck", "EventsDivergedError"]

# EXCEPTION_RAISED is left out: a rank's own exception is rank-local by nature, and the launcher reports it.
_DEFAULT_EVENTS = tuple(event for event in Events if event is not Events.EXCEPTION_RAISED)


class EventsDivergedError(RuntimeError):
    """Raised on every rank when the ranks fired different events, or at different counters."""


class EventSyncCheck:
    """Opt-in check that all ranks fire the same sequence of events; the first divergence raises.

    Every time one of ``events`` fires, the ranks exchange ``(event, iteration, epoch)`` in one
    small collective and compare. When they differ, every rank raises :class:`EventsDivergedError`
    naming each rank's event and counters, instead of one rank waiting forever in a collective the
    others skipped. A rank that stopped firing events altogether leaves the others waiting until the
    process group's timeout (pass ``timeout=`` to ``initialize`` or ``Parallel``).

    It costs one collective per event, so attach it while debugging, not in production runs, and
    attach it first, before the handlers whose collectives it should protect. With one process it
    attaches nothing.

    Args:
        events: the events to compare; every built-in event but ``EXCEPTION_RAISED`` by default.
            Add your custom events here.

    >>> from ember import Engine
    >>> engine = Engine(lambda engine, batch: batch)
    >>> EventSyncCheck().attach(engine)
    >>> engine.run(range(3)).iteration
    3
    """

    def __init__(self, events: Iterable[Any] = _DEFAULT_EVENTS) -> None:
        self.events = tuple(events)
        if not self.events:
            raise ValueError("EventSyncCheck needs at least one event to compare; pass events=[...] or leave it out.")
        self.checks = 0

    def attach(self, engine: Engine) -> None:
        """Compare the ranks at every firing of the events on ``engine`` (nothing with one process)."""
        if not isinstance(engine, Engine):
            raise TypeError(f"EventSyncCheck.attach takes an ember Engine, got {type(engine).__name__}.")
        if distributed.get_world_size() == 1:
            return
        for code, event in enumerate(self.events):
            engine.add_event_handler(event, self._compare, code)

    def _compare(self, engine: Engine, code: int) -> None:
        self.checks += 1
        state = engine.state
        mine = torch.tensor([code, state.iteration, state.epoch], dtype=torch.int64)
        # all_gather concatenates the ranks' rows along the first dimension; it moves tensors for NCCL itself
        everyone = distributed.all_gather(mine).view(-1, 3)
        rows = [[int(value) for value in row.tolist()] for row in everyone]
        if all(row == rows[0] for row in rows):
            return
        described = "; ".join(
            f"rank {rank}: {self._name(row[0])} at iteration {row[1]}, epoch {row[2]}" for rank, row in enumerate(rows)
        )
        raise EventsDivergedError(
            f"The ranks' engines diverged at check {self.checks} (this is rank {distributed.get_rank()}): "
            f"{described}. Every rank must take the same path through the run; look for a decision taken on one "
            "rank's data only (a stop, a skipped batch, a handler filtered by rank) and make it with a collective."
        )

    def _name(self, code: int) -> str:
        event = self.events[code] if 0 <= code < len(self.events) else code
        return getattr(event, "name", str(event))
