"""TensorBoard: :class:`TensorBoardLogger` (and pytorch-ignite's spelling, ``TensorboardLogger``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from ember.handlers.loggers.base import BaseLogger, writable_folder

__all__ = ["TensorBoardLogger", "TensorboardLogger"]


class TensorBoardLogger(BaseLogger):
    """Write scalars and histograms to TensorBoard event files in ``log_dir``, through torch's ``SummaryWriter``.

    Arguments (positional or keyword) go to ``torch.utils.tensorboard.SummaryWriter``; the first is
    ``log_dir``. The folder is created now, and a folder this process cannot write to fails here.
    ``writer`` is the ``SummaryWriter`` (on rank 0; ``None`` elsewhere) for anything else, and its
    methods are reachable on the logger itself (``logger.add_text(...)``), as in pytorch-ignite.

    Needs the tensorboard package: ``pip install 'ember[tensorboard]'``.

    Example::

        with TensorBoardLogger(log_dir="runs/exp1") as logger:
            logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED(every=50), tag="train",
                                         output_transform=lambda loss: {"loss": loss})
            logger.attach_output_handler(evaluator, Events.COMPLETED, tag="validation", metric_names="all",
                                         global_step_transform=global_step_from_engine(trainer))
            trainer.run(loader, max_epochs=10)
    """

    supports_histograms = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "TensorBoardLogger needs the tensorboard package, which is not installed. "
                "Install it with: pip install 'ember[tensorboard]'."
            ) from error
        self.writer: Any = None
        if not self.writes:
            return
        log_dir = args[0] if args else kwargs.get("log_dir")
        if log_dir is not None:
            writable_folder(os.fspath(log_dir), type(self).__name__)
        self.writer = SummaryWriter(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # only reached for names the logger lacks: hand them to the SummaryWriter, as ignite does
        writer = self.__dict__.get("writer")
        if writer is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}.")
        return getattr(writer, name)

    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)

    def _write_histograms(self, values: Mapping[str, torch.Tensor], step: int) -> None:
        for name, tensor in values.items():
            self.writer.add_histogram(name, tensor.detach().float().cpu(), step)

    def flush(self) -> None:
        if self.writer is not None and not self._closed:
            self.writer.flush()

    def _close(self) -> None:
        self.writer.close()


#: pytorch-ignite's spelling of :class:`TensorBoardLogger` (the same class).
TensorboardLogger = TensorBoardLogger
