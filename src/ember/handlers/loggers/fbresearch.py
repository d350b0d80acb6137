"""pytorch-ignite's ``FBResearchLogger``: one progress line per logged iteration, in the FAIR research style.

The lines go to any object with an ``info(message)`` method (a :class:`logging.Logger`): no extra
package is needed. They read, for a trainer named ``"Train"`` with ``show_output=True`` and an optimizer
(the empty parts, here the state attributes and the GPU memory of a CPU run, keep their delimiters, as in
ignite)::

    Train: start epoch [1/2]
    Epoch [1/2]  [10/20]:  ETA: 0:00:01  lr: 0.10000  loss: 0.6931    Iter time: 0.0100 s  Data prep time: 0.0001 s
    Train: Epoch [1/2]  Total time: 0:00:00  (0.0101 s / it)
    Train: run completed  Total time: 0:00:00
"""

from __future__ import annotations

import datetime
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ember.engine import Engine, Events
from ember.handlers.timing import Timer

__all__ = ["FBResearchLogger"]

_MIB = 1024.0 * 1024.0


def _format_number(value: Any, label: str = "") -> str:
    return f"{label}{value:.4f}"


def _format_tensor(tensor: torch.Tensor, label: str = "") -> str:
    if tensor.dim() == 0:
        return _format_number(tensor.item(), label)
    if tensor.dim() == 1:
        shown = ", ".join(f"{item.item():.4f}" for item in tensor[:10])
        return f"{label}[{shown}{', ...' if tensor.size(0) > 10 else ''}]"
    return f"{label}Shape{list(tensor.shape)}"


def _text_items(data: Any) -> list[str]:
    """``data`` (numbers, tensors, and dicts and lists of them) as ``"name: value"`` strings with 4 decimals."""
    if isinstance(data, numbers.Number):
        return [_format_number(data)]
    items: list[str] = []

    def visit(value: Any, label: str) -> str | None:
        if isinstance(value, numbers.Number):
            return _format_number(value, label)
        if isinstance(value, torch.Tensor):
            return _format_tensor(value, label)
        if isinstance(value, dict):
            for key, item in value.items():
                text = visit(item, f"{key}: ")
                if text is not None:
                    items.append(text)
        elif isinstance(value, (list, tuple)):
            texts = [text for text in (visit(item, "") for item in value) if text is not None]
            if texts or (not value and label):
                items.append(label + ", ".join(texts))
        elif value is None and label:
            items.append(label)
        return None

    visit(data, "")
    return items


class FBResearchLogger:
    """Log an engine's progress as text lines: epoch starts, every ``every`` iterations, epoch ends, the run's end.

    Args:
        logger: where the lines go: anything with ``info(message)``, such as ``logging.getLogger("train")``.
        delimiter: put between the parts of a line.
        show_output: also print ``engine.state.output`` (after ``output_transform``) on iteration lines.

    Each iteration line gives the epoch, the iteration within it, the time left in the epoch
    (estimated from the mean iteration time), the learning rates of ``optimizer``, the output
    (numbers with 4 decimals), the ``state_attributes``, the mean time of an iteration and of
    fetching a batch, and, when CUDA is available, the most GPU memory allocated. The lines are those
    pytorch-ignite's ``FBResearchLogger`` prints for the same run, times aside.

    >>> import logging, sys
    >>> log = logging.getLogger("fbresearch-doc")
    >>> log.addHandler(logging.StreamHandler(sys.stdout)); log.setLevel(logging.INFO)
    >>> trainer = Engine(lambda engine, batch: batch * 0.5)
    >>> FBResearchLogger(log).attach(trainer, name="Train", every=2)
    >>> _ = trainer.run([1.0, 2.0], max_epochs=1)  # doctest: +ELLIPSIS
    Train: start epoch [1/1]
    Epoch [1/1]  [2/2]:  ETA: 0:00:00 ... Iter time: ... s  Data prep time: ... s...
    Train:   Total time: 0:00:00  (... s / it)
    """

    def __init__(self, logger: Any, delimiter: str = "  ", show_output: bool = False) -> None:
        if not callable(getattr(logger, "info", None)):
            raise TypeError(
                f"logger must have an info(message) method, such as a logging.Logger, got {type(logger).__name__}. "
                "Pass e.g. logging.getLogger('train')."
            )
        if not isinstance(delimiter, str):
            raise TypeError(f"delimiter must be a string, got {type(delimiter).__name__}.")
        if not isinstance(show_output, bool):
            raise TypeError(f"show_output must be True or False, got {show_output!r}.")
        self.logger: Any = logger
        self.delimiter = delimiter
        self.show_output = show_output
        #: the mean time of an iteration, and of fetching a batch, in the current epoch
        self.iter_timer = Timer(average=True)
        self.data_timer = Timer(average=True)
        self.name = ""
        self.output_transform: Callable[[Any], Any] | None = None
        self.state_attributes: Sequence[str] | None = None

    def attach(
        self,
        engine: Engine,
        name: str,
        every: int = 1,
        output_transform: Callable[[Any], Any] | None = None,
        state_attributes: Sequence[str] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        """Log ``engine``'s progress under ``name``: an iteration line every ``every`` iterations.

        Args:
            engine: the engine to follow.
            name: the name on the epoch and run lines (``"Train"``).
            every: log every this many iterations.
            output_transform: applied to ``engine.state.output`` before it is printed (``show_output``).
            state_attributes: names of ``engine.state`` attributes to print on iteration lines.
            optimizer: print its learning rates (``lr: ...``, or ``lr [g<i>]: ...`` per param group).

        Raises:
            TypeError: a wrong type for one of the arguments.
            ValueError: ``every`` is not a positive integer.
        """
        _check_attach(engine, name, every, output_transform, state_attributes, optimizer)
        self.name = name
        self.output_transform = output_transform
        self.state_attributes = state_attributes
        # fresh timers, so that one logger can follow a second engine (a timer serves one engine)
        self.iter_timer = Timer(average=True)
        self.data_timer = Timer(average=True)
        engine.add_event_handler(Events.EPOCH_STARTED, self.log_epoch_started, engine, name)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=every), self.log_every, engine, optimizer=optimizer)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.log_epoch_completed, engine, name)
        engine.add_event_handler(Events.COMPLETED, self.log_completed, engine, name)
        self.iter_timer.attach(
            engine,
            start=Events.EPOCH_STARTED,
            resume=Events.ITERATION_STARTED,
            pause=Events.ITERATION_COMPLETED,
            step=Events.ITERATION_COMPLETED,
        )
        self.data_timer.attach(
            engine,
            start=Events.EPOCH_STARTED,
            resume=Events.GET_BATCH_STARTED,
            pause=Events.GET_BATCH_COMPLETED,
            step=Events.GET_BATCH_COMPLETED,
        )

    def _learning_rates(self, optimizer: torch.optim.Optimizer | None) -> str:
        if optimizer is None:
            return ""
        groups = optimizer.param_groups
        if len(groups) == 1:
            return f"lr: {groups[0]['lr']:.5f}"
        # as ignite's lines: the groups follow each other with no delimiter between them
        return "".join(f"lr [g{index}]: {group['lr']:.5f}" for index, group in enumerate(groups))

    def log_every(self, engine: Engine, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Log the iteration line for ``engine``'s current iteration."""
        epoch_length = engine.state.epoch_length or 1
        current = (engine.state.iteration - 1) % epoch_length + 1
        iteration_time = self.iter_timer.value()
        eta = datetime.timedelta(seconds=int(iteration_time * (epoch_length - current)))
        outputs: list[str] = []
        if self.show_output and engine.state.output is not None:
            output = engine.state.output
            if self.output_transform is not None:
                output = self.output_transform(output)
            outputs = _text_items(output)
        attributes: list[str] = []
        if self.state_attributes is not None:
            attributes = _text_items({name: getattr(engine.state, name, None) for name in self.state_attributes})
        memory = ""
        if torch.cuda.is_available():
            memory = f"GPU Max Mem: {torch.cuda.max_memory_allocated() / _MIB:.0f} MB"
        parts = [
            f"Epoch [{engine.state.epoch}/{engine.state.max_epochs}]",
            f"[{current}/{epoch_length}]:",
            f"ETA: {eta}",
            self._learning_rates(optimizer),
            *outputs,
            " ".join(attributes),
            f"Iter time: {iteration_time:.4f} s",
            f"Data prep time: {self.data_timer.value():.4f} s",
            memory,
        ]
        self.logger.info(self.delimiter.join(parts))

    def log_epoch_started(self, engine: Engine, name: str) -> None:
        """Log ``<name>: start epoch [e/E]``."""
        self.logger.info(f"{name}: start epoch [{engine.state.epoch}/{engine.state.max_epochs}]")

    def log_epoch_completed(self, engine: Engine, name: str) -> None:
        """Log the epoch's total time and its time per iteration."""
        seconds = engine.state.times["EPOCH_COMPLETED"] or 0.0
        max_epochs = engine.state.max_epochs or 1
        epoch = f"Epoch [{engine.state.epoch}/{engine.state.max_epochs}]" if max_epochs > 1 else ""
        per_iteration = seconds / (engine.state.epoch_length or 1)
        parts = [
            f"{name}: {epoch}",
            f"Total time: {datetime.timedelta(seconds=int(seconds))}",
            f"({per_iteration:.4f} s / it)",
        ]
        self.logger.info(self.delimiter.join(parts))

    def log_completed(self, engine: Engine, name: str) -> None:
        """Log the run's total time (runs of more than one epoch only, as ignite)."""
        if engine.state.max_epochs and engine.state.max_epochs > 1:
            seconds = engine.state.times["COMPLETED"] or 0.0
            parts = [f"{name}: run completed", f"Total time: {datetime.timedelta(seconds=int(seconds))}"]
            self.logger.info(self.delimiter.join(parts))


def _check_attach(
    engine: Any, name: Any, every: Any, output_transform: Any, state_attributes: Any, optimizer: Any
) -> None:
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be an ember Engine, got {type(engine).__name__}.")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string (shown on the epoch lines), got {type(name).__name__}.")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive integer (log every that many iterations), got {every!r}.")
    if output_transform is not None and not callable(output_transform):
        raise TypeError(f"output_transform must be callable (output -> what to print), got {output_transform!r}.")
    if state_attributes is not None and (
        isinstance(state_attributes, str) or not isinstance(state_attributes, Sequence)
    ):
        raise TypeError(
            f"state_attributes must be a list of engine.state attribute names, got {state_attributes!r}. "
            f"Pass e.g. state_attributes=[{state_attributes!r}]."
        )
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}.")
