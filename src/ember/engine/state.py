"""The state an :class:`~ember.engine.Engine` shares with its process function and handlers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["State"]


class State:
    """What the engine knows about the current run, shared with the process function and handlers.

    The counters (``iteration``, ``epoch``) are advanced by the engine only; read them, do not
    write them. Handlers may add attributes of their own (``engine.state.best_score = ...``), and
    custom events registered with ``event_to_attr`` get a counter attribute here.

    Attributes:
        iteration: iterations run so far, over all epochs (the first iteration is 1).
        epoch: the epoch being run or last run (the first epoch is 1).
        epoch_length: iterations per epoch; ``None`` until known for data without ``len``.
        max_epochs: the run stops after this epoch (``None`` when ``max_iters`` is used).
        max_iters: the run stops after this iteration (``None`` when ``max_epochs`` is used).
        output: what the process function returned for the last iteration.
        batch: the batch of the current (or last) iteration.
        metrics: metric values by name, filled by attached metrics.
        dataloader: the data the engine iterates over.
        seed: a seed for the run's random number generators, for handlers that use one.
        times: seconds taken by the last epoch (``"EPOCH_COMPLETED"``) and by the whole run
            (``"COMPLETED"``), or ``None`` while not yet measured.

    >>> State(iteration=5).iteration
    5
    """

    def __init__(self, **kwargs: Any) -> None:
        self.iteration: int = 0
        self.epoch: int = 0
        self.epoch_length: int | None = None
        self.max_epochs: int | None = None
        self.max_iters: int | None = None
        self.output: Any = None
        self.batch: Any = None
        self.metrics: dict[str, Any] = {}
        self.dataloader: Iterable[Any] | None = None
        self.seed: int | None = None
        self.times: dict[str, float | None] = {"EPOCH_COMPLETED": None, "COMPLETED": None}
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" if name != "batch" and name != "output" else f"{name}=<{type(value).__name__}>"
            for name, value in vars(self).items()
            if name != "dataloader"
        )
        return f"State({fields})"
