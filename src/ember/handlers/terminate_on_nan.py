"""Stop a run as soon as an iteration's output holds a NaN or an infinity."""

from __future__ import annotations

import cmath
import logging
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.handlers._attach import check_attach, check_callable
from ember.utils import iter_tensors

__all__ = ["TerminateOnNan", "find_non_finite"]


def find_non_finite(value: Any) -> str | None:
    """Say where ``value`` holds a NaN or an infinity, or return ``None`` if it holds none.

    ``value`` is a number, a tensor, or tuples, lists and dicts of them, nested to any depth.
    Integer tensors and other objects (strings, ``None``) are finite by definition.

    >>> find_non_finite({"loss": torch.tensor(0.5), "parts": [1.0, float("inf")]})
    "output['parts'][1] is inf"
    >>> find_non_finite((torch.tensor([1.0, float("nan")]), 2)) is None
    False
    >>> find_non_finite([0.1, torch.ones(3)]) is None
    True
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        # The common case, a scalar loss: one item() is several times cheaper than isfinite().all().
        number = value.item()
        return None if cmath.isfinite(number) else f"output is {number}"
    for path, number in _iter_numbers(value, ""):
        if not math.isfinite(number):
            return f"output{path} is {number}"
    for path, tensor in iter_tensors(value):
        if tensor.is_floating_point() or tensor.is_complex():
            if tensor.numel() == 1:
                number = tensor.item()
                if not cmath.isfinite(number):
                    return f"output{path} is {number}"
                continue
            finite = torch.isfinite(tensor)
            if not bool(finite.all()):
                bad = finite.numel() - int(finite.sum())
                return f"output{path} has {bad} NaN or infinite value(s) out of {finite.numel()}"
    return None


def _iter_numbers(value: Any, path: str) -> Iterator[tuple[str, float]]:
    """Yield the plain Python numbers nested in ``value``; tensors are left to ``iter_tensors``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        yield path, float(value)
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _iter_numbers(item, f"{path}[{index}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _iter_numbers(item, f"{path}[{key!r}]")


class TerminateOnNan:
    """Terminate the run when ``output_transform(engine.state.output)`` holds a NaN or an infinity.

    Args:
        output_transform: picks what to check from the process function's output; by default
            the whole output (a float, a tensor, or nested tuples, lists and dicts of them).

    A warning is logged saying which iteration and which part of the output was not finite,
    then :meth:`~ember.engine.Engine.terminate` is called, so ``TERMINATE`` and ``COMPLETED`` fire.

    Under ``torch.distributed`` the processes agree with one small all-reduce per check (every
    process reaches it, at the same iteration): if any process sees a non-finite output, all of
    them stop after that iteration, so none is left waiting in a collective.

    ignite's spelling, ``trainer.add_event_handler(Events.ITERATION_COMPLETED, TerminateOnNan())``,
    does the same as :meth:`attach`.

    >>> trainer = Engine(lambda engine, batch: {"loss": torch.tensor(batch).log()})
    >>> TerminateOnNan().attach(trainer)
    >>> trainer.run([1.0, 2.0, 0.0, 4.0]).iteration  # log(0.0) is -inf: stops at the third batch
    3
    """

    def __init__(self, output_transform: Callable[[Any], Any] = lambda output: output) -> None:
        check_callable(
            output_transform, "output_transform", "output_transform(output)", "lambda output: output['loss']"
        )
        self.output_transform = output_transform
        #: where it reports: ``logging.getLogger("ember.handlers.terminate_on_nan.TerminateOnNan")``, as
        #: ignite's handler has one. ember leaves its configuration to the application.
        self.logger: logging.Logger = logging.getLogger(f"{__name__}.{type(self).__name__}")

    def attach(self, engine: Engine, event: Any = Events.ITERATION_COMPLETED) -> None:
        """Check the output whenever ``event`` fires on ``engine`` (by default after each iteration).

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.
        """
        check_attach(
            "TerminateOnNan",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="check each output twice",
            fix="Attach it once.",
        )
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine) -> None:
        """Check ``engine.state.output``; log where it is not finite and terminate ``engine`` if so."""
        where = find_non_finite(self.output_transform(engine.state.output))
        found = where is not None
        if distributed.is_distributed():
            anywhere = bool(distributed.all_reduce(torch.tensor(found), op="max"))
            if anywhere and not found:
                where = f"another process (not rank {distributed.get_rank()}) had a non-finite output"
            found = anywhere
        if found:
            self.logger.warning(
                "TerminateOnNan: at epoch %d, iteration %d, %s; terminating the run.",
                engine.state.epoch,
                engine.state.iteration,
                where,
            )
            engine.terminate()
