"""TensorBoard: :class:`TensorBoardLogger` (and pytorch-ignite's spelling, ``TensorboardLogger``)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import torch

from ember.handlers.loggers.base import BaseLogger, writable_folder
from ember.metrics._checks import unknown_keyword_error

__all__ = ["TensorBoardLogger", "TensorboardLogger"]


class TensorBoardLogger(BaseLogger):
    """Write scalars and histograms to TensorBoard event files in ``log_dir``, through torch's ``SummaryWriter``.

    Arguments (positional or keyword) go to ``torch.utils.tensorboard.SummaryWriter``; the first is
    ``log_dir``. The folder is created now, and a folder this process cannot write to fails here;
    a ``log_dir`` that is not a path, or a keyword ``SummaryWriter`` does not take (``logdir=``, the
    spelling of tensorboardX), fails here too, naming the closest keyword.
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
        _check_writer_arguments(SummaryWriter, args, kwargs)
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


def _check_writer_arguments(writer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The ``SummaryWriter`` arguments are ones it takes, and ``log_dir`` is a path: checked on every rank."""
    names = [name for name in inspect.signature(writer).parameters if name not in ("self", "args", "kwargs")]
    for keyword in kwargs:
        if keyword not in names:
            raise unknown_keyword_error("TensorBoardLogger (its SummaryWriter)", keyword, names)
    if len(args) > len(names):
        raise TypeError(f"TensorBoardLogger takes at most {len(names)} positional arguments ({', '.join(names)}).")
    log_dir = args[0] if args else kwargs.get("log_dir")
    if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
        raise TypeError(
            f"TensorBoardLogger log_dir must be a folder path (a str or os.PathLike), got {log_dir!r} "
            f"({type(log_dir).__name__}). Pass e.g. log_dir='runs/exp1'."
        )


#: pytorch-ignite's spelling of :class:`TensorBoardLogger` (the same class).
TensorboardLogger = TensorBoardLogger
