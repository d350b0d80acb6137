"""Factories for supervised training and evaluation engines, and the step functions they use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ember.engine.engine import Engine

__all__ = [
    "create_supervised_trainer",
    "create_supervised_evaluator",
    "prepare_batch",
]


def prepare_batch(batch: Any, device: str | torch.device | None = None, non_blocking: bool = False) -> tuple[Any, Any]:
    """Split ``batch`` into ``(x, y)`` and move their tensors to ``device``."""
    if not isinstance(batch, Sequence) or len(batch) != 2:
        raise ValueError(
            f"The default prepare_batch expects a batch (x, y) of two items, got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, Sequence) else "")
            + ". Pass prepare_batch=fn(batch, device, non_blocking) -> (x, y) for other batch layouts."
        )
    x, y = batch
    return _to_device(x, device, non_blocking), _to_device(y, device, non_blocking)


def _to_device(value: Any, device: str | torch.device | None, non_blocking: bool) -> Any:
    if device is None or not isinstance(value, torch.Tensor):
        return value
    return value.to(device, non_blocking=non_blocking)


def create_supervised_trainer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    device: str | torch.device | None = None,
    non_blocking: bool = False,
    prepare_batch: Callable[..., tuple[Any, Any]] = prepare_batch,
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = lambda x, y, y_pred, loss: loss.item(),
) -> Engine:
    """Build an engine whose iteration is one optimisation step of ``model`` on a batch ``(x, y)``.

    ``engine.state.output`` is ``output_transform(x, y, y_pred, loss)``, the loss as a float by default.
    """
    if device is not None:
        model.to(device)

    def train_step(engine: Engine, batch: Any) -> Any:
        model.train()
        optimizer.zero_grad()
        x, y = prepare_batch(batch, device=device, non_blocking=non_blocking)
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        return output_transform(x, y, y_pred, loss)

    return Engine(train_step)


def create_supervised_evaluator(
    model: nn.Module,
    metrics: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
    non_blocking: bool = False,
    prepare_batch: Callable[..., tuple[Any, Any]] = prepare_batch,
    output_transform: Callable[[Any, Any, Any], Any] = lambda x, y, y_pred: (y_pred, y),
) -> Engine:
    """Build an engine that runs ``model`` without gradients on batches ``(x, y)``.

    ``engine.state.output`` is ``output_transform(x, y, y_pred)``, ``(y_pred, y)`` by default; the
    ``metrics`` given are attached to the engine under their names.
    """
    if device is not None:
        model.to(device)

    def evaluate_step(engine: Engine, batch: Any) -> Any:
        model.eval()
        with torch.no_grad():
            x, y = prepare_batch(batch, device=device, non_blocking=non_blocking)
            y_pred = model(x)
            return output_transform(x, y, y_pred)

    evaluator = Engine(evaluate_step)
    for name, metric in (metrics or {}).items():
        metric.attach(evaluator, name)
    return evaluator
