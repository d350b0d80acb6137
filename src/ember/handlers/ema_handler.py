"""An exponential moving average of a model's weights, updated by the trainer: ignite's ``EMAHandler``."""

from __future__ import annotations

import copy
import numbers
import warnings
import weakref
from typing import Any

import torch
from torch import nn

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach
from ember.handlers.state_param_scheduler import LambdaStateScheduler

__all__ = ["EMAHandler"]

_BUFFER_MODES = ("copy", "update", "ema_train")


class _MomentumWarmup:
    """The momentum at the ``n``-th update (n from 1): linear from ``start`` to ``end`` over ``iterations`` updates."""

    def __init__(self, start: float, iterations: int, end: float) -> None:
        self.start, self.iterations, self.end = start, iterations, end

    def __call__(self, event_index: int) -> float:
        ramp = self.start + (self.end - self.start) * (event_index - 1) / max(1, self.iterations - 1)
        return min(self.end, ramp) if self.end >= self.start else max(self.end, ramp)


def _momentum(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1), got {name}={value!r} ({type(value).__name__}).")
    if not 0 < float(value) < 1:
        raise ValueError(
            f"{name} must be in (0, 1) (the weight of the online model at each update), got {name}={value!r}. "
            "Typical values are small, e.g. 0.0002."
        )
    return float(value)


class EMAHandler:
    """Keep ``ema_model``, an exponential moving average of ``model``'s weights, updated at each iteration.

    At each update ``ema = (1 - momentum) * ema + momentum * weight`` for every parameter; the
    momentum of the update is ``engine.state.<name>`` (``ema_momentum`` by default).

    Args:
        model: the trained model. A ``DistributedDataParallel`` is unwrapped (its ``module`` is
            averaged); a ``DataParallel`` gives a ``DataParallel`` average.
        momentum: the weight of the online model at each update, in (0, 1).
        momentum_warmup, warmup_iters: start at ``momentum_warmup`` and move linearly to
            ``momentum`` over the first ``warmup_iters`` updates (give both, or neither).
        handle_buffers: ``"copy"`` (the average takes the model's buffers, e.g. batch-norm
            statistics, at each update), ``"update"`` (floating-point buffers are averaged too; the
            others copied) or ``"ema_train"`` (buffers left alone; the average is kept in train mode,
            so it computes its own statistics when run). With ``"copy"`` and ``"update"`` the average
            is in eval mode.

    Attributes:
        ema_model: the averaged model (a deep copy of ``model`` whose parameters need no gradient).
        model: the model being averaged.

    Resume: save ``ema_model`` (and the trainer) in the checkpoint beside the model; load them
    before :meth:`attach`, with ``warn_if_exists=False`` when the trainer's state already holds
    the momentum.

    >>> import torch
    >>> from ember.engine import Engine
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> _ = torch.nn.init.zeros_(model.weight)
    >>> ema = EMAHandler(model, momentum=0.5)
    >>> def step(engine, batch):
    ...     with torch.no_grad():
    ...         model.weight.fill_(batch)
    >>> trainer = Engine(step)
    >>> ema.attach(trainer)
    >>> _ = trainer.run([1.0, 1.0, 1.0])
    >>> ema.ema_model.weight.item(), trainer.state.ema_momentum
    (0.875, 0.5)
    """

    def __init__(
        self,
        model: nn.Module,
        momentum: float = 0.0002,
        momentum_warmup: float | None = None,
        warmup_iters: int | None = None,
        handle_buffers: str = "copy",
    ) -> None:
        self.momentum = _momentum("momentum", momentum)
        if (momentum_warmup is None) != (warmup_iters is None):
            raise ValueError(
                f"momentum_warmup={momentum_warmup!r} and warmup_iters={warmup_iters!r}: a warm-up needs both (the "
                "starting momentum and how many updates it lasts). Give both, or neither for a constant momentum."
            )
        self._warmup: _MomentumWarmup | None = None
        if momentum_warmup is not None and warmup_iters is not None:
            start = _momentum("momentum_warmup", momentum_warmup)
            if isinstance(warmup_iters, bool) or not isinstance(warmup_iters, numbers.Integral) or warmup_iters < 1:
                raise ValueError(f"warmup_iters must be a whole number >= 1, got warmup_iters={warmup_iters!r}.")
            self._warmup = _MomentumWarmup(start, int(warmup_iters), self.momentum)
        #: the scheduler of the warm-up momentum, once attached (None without a warm-up)
        self.momentum_scheduler: LambdaStateScheduler | None = None
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}. Pass the trained model.")
        if handle_buffers not in _BUFFER_MODES:
            raise ValueError(f"handle_buffers must be one of {list(_BUFFER_MODES)}, got {handle_buffers!r}.")
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        self.model = model
        self.ema_model = copy.deepcopy(model)
        for parameter in self.ema_model.parameters():
            parameter.detach_()
        self.handle_buffers = handle_buffers
        self.ema_model.train(handle_buffers == "ema_train")
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    @torch.no_grad()
    def _update_ema_model(self, engine: Engine, name: str) -> None:
        """One averaging step with the momentum in ``engine.state.<name>``."""
        momentum = getattr(engine.state, name)
        for average, parameter in zip(self.ema_model.parameters(), self.model.parameters(), strict=True):
            average.mul_(1.0 - momentum).add_(parameter.data, alpha=momentum)
        if self.handle_buffers == "ema_train":
            return
        for ema_buffer, buffer in zip(self.ema_model.buffers(), self.model.buffers(), strict=True):
            if self.handle_buffers == "update" and ema_buffer.is_floating_point():
                ema_buffer.mul_(1.0 - momentum).add_(buffer.data, alpha=momentum)
            else:  # "copy", or a counter (e.g. batch norm's num_batches_tracked) that has no average
                ema_buffer.data = buffer.data

    def attach(
        self,
        engine: Engine,
        name: str = "ema_momentum",
        warn_if_exists: bool = True,
        event: Any = Events.ITERATION_COMPLETED,
    ) -> None:
        """Update the average whenever ``event`` fires on ``engine`` (default: after each iteration).

        Args:
            engine: the trainer.
            name: the ``engine.state`` attribute holding the momentum (one name per EMAHandler of
                a trainer). It is set to ``momentum`` now unless it exists (a resumed trainer).
            warn_if_exists: warn when ``engine.state`` already has ``name``.
            event: when to update (e.g. ``Events.ITERATION_COMPLETED(every=4)``).

        With a warm-up, the momentum of each update is written to ``engine.state.<name>``
        before the update.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            ValueError: ``name`` is not an attribute name.
            RuntimeError: this handler is already attached to ``engine``.
        """
        check_attach(
            "EMAHandler",
            engine,
            already=engine in self._engines,
            consequence="average twice per event",
            fix="Attach it once; create another EMAHandler for another model.",
        )
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name must be an attribute name for engine.state, got {name!r}.")
        if hasattr(engine.state, name):
            if warn_if_exists:
                warnings.warn(
                    f"engine.state already has {name!r} (a resumed trainer, or another handler using the name); "
                    f"EMAHandler reads its momentum from it. Pass warn_if_exists=False after a resume, or another "
                    "name if another handler owns it.",
                    UserWarning,
                    stacklevel=2,
                )
        else:
            setattr(engine.state, name, self.momentum)
        if self._warmup is not None:
            self.momentum_scheduler = LambdaStateScheduler(self._warmup, param_name=name, create_new=False)
            self.momentum_scheduler.attach(engine, event)
        engine.add_event_handler(event, self._update_ema_model, name)
        self._engines.add(engine)
