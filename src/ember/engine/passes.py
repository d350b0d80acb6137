"""Where in the data the engine is: the one owner of the current pass over the data.

A *pass* is one iteration over the data (``iter(data)``); an epoch may take several passes (data
shorter than ``epoch_length``) or part of one. :class:`DataPasses` opens a pass (``position``
batches into it when a run resumes), counts how far into it the run is, and forgets it when a run
ends, so that the next ``run()`` starts at the data's first batch, as in pytorch-ignite. Both
:class:`~ember.engine.Engine` and :class:`~ember.engine.DeterministicEngine` go through it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["DataPasses", "iterate_from", "length_of"]


class DataPasses:
    """The iterator of the current pass over the data, and the iteration at which that pass began.

    ``iterator`` is ``None`` between runs and after a pass was given up (``terminate_epoch()``, an
    exception): the next fetch opens a new pass over ``engine.state.dataloader``.
    """

    __slots__ = ("iterator", "start_iteration")

    def __init__(self) -> None:
        self.iterator: Iterator[Any] | None = None
        self.start_iteration = 0

    def open(
        self, data: Iterable[Any] | None, iteration: int, epoch: int, position: int, logger: logging.Logger
    ) -> None:
        """Start a pass over ``data`` whose next batch is batch ``position`` of the pass.

        ``data=None`` yields ``None`` forever (a run without data). A ``set_epoch`` method of a
        DataLoader's sampler is called with ``epoch - 1`` first (a DistributedSampler reshuffles).
        With ``position > 0`` the data's ``iter_from(position)`` is used when it has one; otherwise
        the batches before it are fetched and discarded.
        """
        self.start_iteration = iteration - position
        if data is None:
            self.iterator = itertools.repeat(None)
            return
        _set_sampler_epoch(data, epoch - 1)
        self.iterator = iterate_from(data, position, logger)

    def switch(self, data: Iterable[Any], iteration: int) -> None:
        """Take the next batches from the start of ``data`` (``Engine.set_data``)."""
        self.iterator = iter(data)
        self.start_iteration = iteration

    def close(self) -> None:
        """Give up the current pass: the next fetch opens a new one."""
        self.iterator = None

    def position(self, iteration: int) -> int:
        """How many batches of the current pass were taken by ``iteration``."""
        return iteration - self.start_iteration


def iterate_from(data: Iterable[Any], position: int, logger: logging.Logger | None = None) -> Iterator[Any]:
    """An iterator over ``data`` whose first batch is batch ``position``.

    The data's ``iter_from(position)`` is used when it has one; otherwise the batches before
    ``position`` are fetched and discarded (``logger``, if given, says so).
    """
    if position and callable(getattr(data, "iter_from", None)):
        return iter(data.iter_from(position))  # type: ignore[attr-defined]
    iterator = iter(data)
    if position:
        if logger is not None:
            logger.info(
                "Resuming at batch %d of the data: fetching and discarding %d batches "
                "(give the data an iter_from(position) method to skip them without loading).",
                position,
                position,
            )
        for _ in itertools.islice(iterator, position):
            pass  # the batches before the position are fetched and dropped
    return iterator


def _set_sampler_epoch(data: Any, epoch: int) -> None:
    """Call ``set_epoch`` on the sampler of a DataLoader-like ``data`` (a DistributedSampler reshuffles)."""
    for holder in (data, getattr(data, "batch_sampler", None)):
        sampler = getattr(holder, "sampler", None)
        if sampler is not None and callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(epoch)
            return
    batch_sampler = getattr(data, "batch_sampler", None)
    if batch_sampler is not None and callable(getattr(batch_sampler, "set_epoch", None)):
        batch_sampler.set_epoch(epoch)


def length_of(data: Iterable[Any] | None) -> int | None:
    """``len(data)``, or None for data without a length (a DataLoader of an IterableDataset raises)."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None
