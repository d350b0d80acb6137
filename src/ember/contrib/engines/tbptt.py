"""pytorch-ignite's truncated backpropagation through time trainer: ``create_supervised_tbptt_trainer``.

``python -m ember.examples.tbptt`` shows the same technique written out with a bare ``Engine``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from ember.engine import Engine, EventEnum
from ember.supervised import prepare_batch as default_prepare_batch
from ember.utils import apply_to_tensor

__all__ = ["Tbptt_Events", "create_supervised_tbptt_trainer"]


class Tbptt_Events(EventEnum):
    """Fired by the trainer of :func:`create_supervised_tbptt_trainer` around each chunk of time steps."""

    TIME_ITERATION_STARTED = "time_iteration_started"
    TIME_ITERATION_COMPLETED = "time_iteration_completed"


def create_supervised_tbptt_trainer(
    model: nn.Module,
    optimizer: Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    tbtt_step: int,
    dim: int = 0,
    device: str | torch.device | None = None,
    non_blocking: bool = False,
    prepare_batch: Callable[..., tuple[Any, Any]] = default_prepare_batch,
) -> Engine:
    """A trainer that cuts each ``(x, y)`` sequence batch into chunks of ``tbtt_step`` time steps along ``dim``.

    For each chunk it fires ``Tbptt_Events.TIME_ITERATION_STARTED``, runs
    ``y_pred, hidden = model(x_chunk[, hidden])`` with the previous chunk's hidden state detached
    (so gradients stop at the chunk's start), takes one optimizer step on ``loss_fn(y_pred, y_chunk)``,
    sets ``engine.state.output`` to that loss and fires ``TIME_ITERATION_COMPLETED``. The iteration's
    output is the mean of the chunks' losses.

    Args:
        model: a recurrent model called as ``model(x)`` and ``model(x, hidden)``, returning
            ``(y_pred, hidden)``.
        optimizer: its optimizer.
        loss_fn: ``loss_fn(y_pred, y) -> tensor``.
        tbtt_step: time steps per chunk (the last one may be shorter).
        dim: the time dimension of ``x`` and ``y``.
        device, non_blocking, prepare_batch: how each chunk reaches the model (``prepare_batch(chunk,
            device=, non_blocking=) -> (x, y)``).

    >>> import torch
    >>> class Recurrent(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn = torch.nn.GRU(2, 3)
    ...         self.head = torch.nn.Linear(3, 1)
    ...     def forward(self, x, hidden=None):
    ...         out, hidden = self.rnn(x, hidden)
    ...         return self.head(out), hidden
    >>> model = Recurrent()
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> trainer = create_supervised_tbptt_trainer(model, optimizer, torch.nn.functional.mse_loss, tbtt_step=4)
    >>> chunks = []
    >>> _ = trainer.add_event_handler(Tbptt_Events.TIME_ITERATION_COMPLETED, lambda engine: chunks.append(1))
    >>> batch = (torch.randn(10, 5, 2), torch.randn(10, 5, 1))  # 10 time steps, 5 sequences
    >>> _ = trainer.run([batch])
    >>> len(chunks)  # chunks of 4, 4 and 2 time steps
    3
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(y_pred, y), got {type(loss_fn).__name__}.")
    if isinstance(tbtt_step, bool) or not isinstance(tbtt_step, int) or tbtt_step < 1:
        raise ValueError(f"tbtt_step must be a whole number of time steps >= 1, got tbtt_step={tbtt_step!r}.")
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be the index of the time dimension, got dim={dim!r}.")
    if not callable(prepare_batch):
        raise TypeError(f"prepare_batch must be callable, got {type(prepare_batch).__name__}.")

    def update(engine: Engine, batch: Any) -> float:
        x, y = batch
        losses: list[float] = []
        hidden: Any = None
        for chunk in zip(x.split(tbtt_step, dim=dim), y.split(tbtt_step, dim=dim), strict=True):
            x_chunk, y_chunk = prepare_batch(chunk, device=device, non_blocking=non_blocking)
            engine.fire_event(Tbptt_Events.TIME_ITERATION_STARTED)
            model.train()
            optimizer.zero_grad()
            if hidden is None:
                y_pred, hidden = model(x_chunk)
            else:  # the gradient stops at the chunk's start
                y_pred, hidden = model(x_chunk, apply_to_tensor(hidden, torch.Tensor.detach))
            loss = loss_fn(y_pred, y_chunk)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            engine.state.output = loss.item()
            losses.append(loss.item())
            engine.fire_event(Tbptt_Events.TIME_ITERATION_COMPLETED)
        return sum(losses) / len(losses)

    trainer = Engine(update)
    trainer.register_events(*Tbptt_Events)
    return trainer
