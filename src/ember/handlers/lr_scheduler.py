"""Step any :mod:`torch.optim.lr_scheduler` scheduler from an engine's events.

ember does not re-implement schedules: PyTorch's schedulers (``StepLR``, ``OneCycleLR``,
``CosineAnnealingLR``, ``LinearLR`` + ``SequentialLR`` for warm-up, ``ReduceLROnPlateau`` ...)
already compute them, and the handler only decides when ``scheduler.step()`` is called.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler
from torch.optim.lr_scheduler import ReduceLROnPlateau

from ember.engine import Engine, Events

__all__ = ["LRScheduler"]


class LRScheduler:
    """Call ``scheduler.step()`` when an event fires, and record each param group's learning rate.

    Args:
        scheduler: a :mod:`torch.optim.lr_scheduler` scheduler, including ``SequentialLR``,
            ``ChainedScheduler`` and ``ReduceLROnPlateau``.
        optimizer: the optimizer the process function steps. The scheduler must have been built
            on this very optimizer; a scheduler bound to another one would change learning rates
            that nobody uses, so it is refused.
        metric: only for ``ReduceLROnPlateau``, the value it watches: the name of a metric in
            ``engine.state.metrics`` of the engine the handler fires on, or a callable
            ``metric(engine) -> float``.
        state_attr: the ``engine.state`` attribute that receives the list of learning rates, one
            per param group, when the run starts and after each step (for loggers and progress bars).

    Torch's schedulers expect ``scheduler.step()`` after ``optimizer.step()``; attached at
    ``ITERATION_COMPLETED`` (the default) or ``EPOCH_COMPLETED``, the handler steps right after
    the process function has stepped the optimizer, so iteration ``i`` trains with the same
    learning rate as the ``i``-th step of a hand-written loop.

    >>> model = torch.nn.Linear(1, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    >>> scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    >>> trainer = Engine(lambda engine, batch: optimizer.step())
    >>> LRScheduler(scheduler, optimizer).attach(trainer)
    >>> trainer.run([0] * 5).lr
    [0.25]
    """

    def __init__(
        self,
        scheduler: TorchLRScheduler | ReduceLROnPlateau,
        optimizer: torch.optim.Optimizer,
        metric: str | Callable[[Engine], Any] | None = None,
        state_attr: str = "lr",
    ) -> None:
        if not isinstance(scheduler, (TorchLRScheduler, ReduceLROnPlateau)):
            raise TypeError(
                f"scheduler must be a torch.optim.lr_scheduler scheduler, got {type(scheduler).__name__}. "
                "Pass e.g. torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)."
            )
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
                "Pass the optimizer that the process function steps."
            )
        if scheduler.optimizer is not optimizer:
            raise ValueError(
                f"The {type(scheduler).__name__} is bound to another optimizer than the one given "
                f"({type(scheduler.optimizer).__name__} at {id(scheduler.optimizer):#x}, not "
                f"{type(optimizer).__name__} at {id(optimizer):#x}), so stepping it would change learning rates "
                "that training does not use. Build the scheduler on the optimizer the process function steps."
            )
        plateau = isinstance(scheduler, ReduceLROnPlateau)
        if plateau and metric is None:
            raise ValueError(
                "ReduceLROnPlateau needs the value it watches, but metric is None. Pass metric='loss' (a name in "
                "engine.state.metrics) or metric=lambda engine: ..., and attach the handler where it is computed."
            )
        if not plateau and metric is not None:
            raise ValueError(
                f"metric={metric!r} was given, but {type(scheduler).__name__} does not take one (only "
                "ReduceLROnPlateau does). Leave metric out."
            )
        if metric is not None and not (isinstance(metric, str) or callable(metric)):
            raise TypeError(
                f"metric must be a metric name or a callable engine -> float, got {type(metric).__name__}. "
                "Pass e.g. metric='loss'."
            )
        if not isinstance(state_attr, str) or not state_attr.isidentifier():
            raise ValueError(
                f"state_attr must be a valid attribute name, got {state_attr!r}. Pass e.g. state_attr='lr'."
            )
        self.scheduler = scheduler
        self.optimizer = optimizer
        self.metric = metric
        self.state_attr = state_attr

    @property
    def learning_rates(self) -> list[float]:
        """The current learning rate of each param group of the optimizer."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def attach(self, engine: Engine, event: Any = Events.ITERATION_COMPLETED) -> None:
        """Step the scheduler whenever ``event`` fires on ``engine``.

        Use ``Events.ITERATION_COMPLETED`` for per-iteration schedules (``OneCycleLR``, warm-up in
        iterations), ``Events.EPOCH_COMPLETED`` for per-epoch ones, the evaluator's
        ``Events.COMPLETED`` for ``ReduceLROnPlateau`` on a validation metric, or
        ``TrainerEvents.OPTIMIZER_STEP_COMPLETED`` with gradient accumulation. The learning
        rates are also recorded at ``STARTED``.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.
        """
        if not isinstance(engine, Engine):
            raise TypeError(
                f"LRScheduler.attach expects an ember Engine, got {engine!r} ({type(engine).__name__}). "
                "Pass the trainer (or, for ReduceLROnPlateau, the engine that computes the metric)."
            )
        if engine.has_event_handler(self):
            raise RuntimeError(
                "This LRScheduler is already attached to this engine; a second attachment would step the scheduler "
                "twice per event. Attach it once."
            )
        engine.add_event_handler(event, self)
        engine.add_event_handler(Events.STARTED, self.record)

    def record(self, engine: Engine) -> None:
        """Store the current learning rates in ``engine.state.<state_attr>``."""
        setattr(engine.state, self.state_attr, self.learning_rates)

    def __call__(self, engine: Engine) -> None:
        """Step the scheduler (with the metric, for ``ReduceLROnPlateau``) and record the new rates.

        Raises:
            KeyError: the named metric is not in ``engine.state.metrics``.
            TypeError / ValueError: the metric is not a finite number.
        """
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(self._metric_value(engine))
        else:
            self.scheduler.step()
        self.record(engine)

    def _metric_value(self, engine: Engine) -> float:
        metric = self.metric
        if isinstance(metric, str):
            metrics = engine.state.metrics
            if metric not in metrics:
                raise KeyError(
                    f"ReduceLROnPlateau watches the metric {metric!r}, but engine.state.metrics has only "
                    f"{sorted(metrics)}. Attach the metric to this engine, or attach the LRScheduler to the engine "
                    "that computes it (e.g. the evaluator, at Events.COMPLETED)."
                )
            value = metrics[metric]
        else:
            # __init__ refused a ReduceLROnPlateau without a metric, so this is the callable form.
            value = cast(Callable[[Engine], Any], metric)(engine)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"The metric for ReduceLROnPlateau must be a real number, got {value!r} ({type(value).__name__}). "
                "Pass a metric that computes a float."
            )
        if math.isnan(value):
            raise ValueError(
                "The metric for ReduceLROnPlateau is nan, which cannot be compared with earlier values. "
                "Check the metric; stop the run on NaN outputs with TerminateOnNan."
            )
        return float(value)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's own ``state_dict()``, for checkpoints."""
        return self.scheduler.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a scheduler state saved by :meth:`state_dict`.

        Raises:
            TypeError: ``state_dict`` is not a mapping.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict expects a mapping, got {type(state_dict).__name__}. "
                "Pass a dict saved by LRScheduler.state_dict()."
            )
        self.scheduler.load_state_dict(dict(state_dict))
