"""A schedule for the batch size of a DataLoader: ignite's ``BatchSizeScheduler``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import BatchSampler, DataLoader

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach, check_callable
from ember.handlers.param_scheduler._base import BaseParamScheduler, _record_value, _refuse_second_registration


class BatchSizeScheduler(BaseParamScheduler):
    """Set the batch size of ``dataloader``'s batch sampler to ``scheduler_fn(event_index)`` at each event.

    Args:
        dataloader: a :class:`~torch.utils.data.DataLoader` built with a ``batch_size`` (so it has a
            :class:`~torch.utils.data.BatchSampler`).
        scheduler_fn: ``event_index -> batch size`` (a whole number >= 1); ``event_index`` is 0 at the
            first event.
        save_history: append each batch size to ``engine.state.param_history["batch_size"]``.

    Attach it at ``Events.EPOCH_STARTED`` (the default): the new size applies to the batches the loader
    makes from then on, so each epoch runs at one size. The engine's ``epoch_length``, taken from
    ``len(dataloader)`` when the run starts, stays as it was.

    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(torch.arange(12)), batch_size=2)
    >>> trainer = Engine(lambda engine, batch: len(batch[0]))
    >>> BatchSizeScheduler(loader, lambda epoch: 2 + epoch).attach(trainer)
    >>> sizes = []
    >>> _ = trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: sizes.append(engine.state.output))
    >>> _ = trainer.run(loader, max_epochs=2, epoch_length=3)
    >>> sizes
    [2, 2, 2, 3, 3, 3]
    """

    def __init__(self, dataloader: DataLoader[Any], scheduler_fn: Callable[[int], int], save_history: bool = False):
        super().__init__("batch_size", save_history)
        if not isinstance(dataloader, DataLoader):
            raise TypeError(
                f"dataloader must be a torch.utils.data.DataLoader, got {type(dataloader).__name__}. "
                "Pass the loader the trainer runs over."
            )
        if not isinstance(dataloader.batch_sampler, BatchSampler):
            raise ValueError(
                f"The DataLoader's batch_sampler is {type(dataloader.batch_sampler).__name__}, not a "
                "torch.utils.data.BatchSampler, so it has no batch size to change. Build the loader with "
                "batch_size=... (and no custom batch_sampler)."
            )
        if not callable(scheduler_fn):
            raise TypeError(
                f"scheduler_fn must be callable as scheduler_fn(event_index) -> batch size, got {scheduler_fn!r}."
            )
        check_callable(scheduler_fn, "scheduler_fn", "scheduler_fn(event_index)", "lambda epoch: 16 * (epoch + 1)")
        self.dataloader = dataloader
        self.scheduler_fn = scheduler_fn

    def attach(self, engine: Engine, event: Any = Events.EPOCH_STARTED) -> None:
        """Change the batch size whenever ``event`` fires on ``engine`` (default: at the start of each epoch).

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the scheduler is already attached to ``engine``.
        """
        check_attach(
            "BatchSizeScheduler",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="advance the schedule twice per event",
            fix="Attach it once.",
        )
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine | None = None) -> None:
        """Set the batch size for the current ``event_index``, record it (``save_history``), count the event.

        Raises:
            ValueError: ``scheduler_fn`` gave something else than a whole number >= 1.
        """
        _refuse_second_registration(self, engine)
        size = self.get_param()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"scheduler_fn({self.event_index}) gave {size!r}, which is not a batch size. Make it return a "
                "whole number >= 1 (e.g. int(...))."
            )
        batch_sampler = self.dataloader.batch_sampler
        assert isinstance(batch_sampler, BatchSampler)  # checked at construction
        batch_sampler.batch_size = size
        if self.save_history and engine is not None:
            _record_value(engine, self.param_name, size)
        self.event_index += 1

    def get_param(self) -> int:
        """``scheduler_fn(event_index)``: the batch size the next event sets."""
        return self.scheduler_fn(self.event_index)

    @classmethod
    def simulate_values(cls, num_events: int, **scheduler_kwargs: Any) -> list[list[int]]:
        """``[[event_index, batch_size], ...]`` for ``num_events`` events of ``scheduler_fn``.

        >>> BatchSizeScheduler.simulate_values(3, scheduler_fn=lambda epoch: 8 * (epoch + 1))
        [[0, 8], [1, 16], [2, 24]]
        """
        scheduler_fn = scheduler_kwargs.get("scheduler_fn")
        if not callable(scheduler_fn):
            raise ValueError("simulate_values needs scheduler_fn=<callable event_index -> batch size>.")
        return [[index, scheduler_fn(index)] for index in range(num_events)]
