"""Schedulers that drive PyTorch's own: ``LRScheduler`` and ``ReduceLROnPlateauScheduler``."""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, ReduceLROnPlateau
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler

from ember.engine import Engine, Events
from ember.handlers._attach import check_callable
from ember.handlers.param_scheduler._base import (
    ParamScheduler,
    _check_bool,
    _fake_optimizer,
    _record_history,
    _refuse_second_registration,
)


def _check_torch_scheduler(scheduler: Any) -> None:
    if not isinstance(scheduler, (TorchLRScheduler, ReduceLROnPlateau)):
        raise TypeError(
            f"lr_scheduler must be a torch.optim.lr_scheduler scheduler, got {type(scheduler).__name__}. "
            "Pass e.g. torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)."
        )


class LRScheduler(ParamScheduler):
    """Step a :mod:`torch.optim.lr_scheduler` scheduler from an engine's events (PyTorch computes the values).

    Two spellings, one class:

    - **ember's**: ``LRScheduler(scheduler, optimizer, metric=None, state_attr="lr")`` then
      ``.attach(trainer)``. Each event (``ITERATION_COMPLETED`` by default, or
      ``EPOCH_COMPLETED``) calls ``scheduler.step()`` right after the process function stepped the
      optimizer, so iteration ``i`` trains with the same learning rate as the ``i``-th step of a
      hand-written loop. The rates are stored in ``engine.state.<state_attr>`` (one per param
      group) at ``STARTED`` and after each step. ``ReduceLROnPlateau`` works too, with ``metric``:
      the name of a metric in ``engine.state.metrics`` or a function ``metric(engine) -> float``.
    - **ignite's**: ``LRScheduler(lr_scheduler, save_history=False, use_legacy=False)`` added with
      ``trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)`` (or ``.attach(trainer)``,
      which uses that event). It computes the rates as ignite does, so it sets the same values:
      each event sets the rates ``lr_scheduler.get_lr()`` gives at the scheduler's current
      ``last_epoch``, then advances ``last_epoch`` by one (``scheduler.step()`` is not called, so
      ``get_last_lr()`` is not updated). For most torch schedulers the first event keeps the
      optimizer's rate (ignite's documented timing); for those whose ``get_lr`` applies its factor at
      every call after the scheduler's creation (``ExponentialLR``, ``CosineAnnealingLR`` with
      recent PyTorch) the first event already applies it, as in ignite. ``use_legacy=True``
      advances ``last_epoch`` once at creation, for ``Events.ITERATION_COMPLETED``. A
      ``CosineAnnealingWarmRestarts`` is stepped at every event, the first included, which gives
      ignite's values.

    The scheduler must have been built on the optimizer the process function steps; a scheduler
    bound to another one would change learning rates that nobody uses, so ember's form refuses it.

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
        lr_scheduler: TorchLRScheduler | ReduceLROnPlateau,
        optimizer: Optimizer | bool | None = None,
        metric: str | Callable[[Engine], Any] | None = None,
        state_attr: str = "lr",
        *,
        save_history: bool = False,
        use_legacy: bool = False,
    ) -> None:
        _check_torch_scheduler(lr_scheduler)
        if isinstance(optimizer, bool):
            # ignite's second positional argument is save_history: LRScheduler(scheduler, True)
            save_history, optimizer = optimizer, None
        #: True for ember's form (an optimizer was given), False for ignite's
        self.ember_form = optimizer is not None
        plateau = isinstance(lr_scheduler, ReduceLROnPlateau)
        if self.ember_form:
            if not isinstance(optimizer, Optimizer):
                raise TypeError(
                    f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
                    "Pass the optimizer that the process function steps."
                )
            if lr_scheduler.optimizer is not optimizer:
                raise ValueError(
                    f"The {type(lr_scheduler).__name__} is bound to another optimizer than the one given "
                    f"({type(lr_scheduler.optimizer).__name__} at {id(lr_scheduler.optimizer):#x}, not "
                    f"{type(optimizer).__name__} at {id(optimizer):#x}), so stepping it would change learning rates "
                    "that training does not use. Build the scheduler on the optimizer the process function steps."
                )
            if plateau and metric is None:
                raise ValueError(
                    "ReduceLROnPlateau needs the value it watches, but metric is None. Pass metric='loss' (a name in "
                    "engine.state.metrics) or metric=lambda engine: ..., and attach the handler where it is computed."
                )
        elif plateau:
            raise TypeError(
                "ignite's one-argument form LRScheduler(lr_scheduler) does not take a ReduceLROnPlateau. Use "
                "ReduceLROnPlateauScheduler(optimizer, metric_name=...), or ember's form "
                "LRScheduler(plateau, optimizer, metric='loss')."
            )
        if not plateau and metric is not None:
            raise ValueError(
                f"metric={metric!r} was given, but {type(lr_scheduler).__name__} does not take one (only "
                "ReduceLROnPlateau does). Leave metric out."
            )
        if metric is not None and not isinstance(metric, str):
            if not callable(metric):
                raise TypeError(
                    f"metric must be a metric name or a callable engine -> float, got {type(metric).__name__}. "
                    "Pass e.g. metric='loss'."
                )
            check_callable(metric, "metric", "metric(engine)", "lambda engine: engine.state.metrics['loss']")
        if not isinstance(state_attr, str) or not state_attr.isidentifier():
            raise ValueError(
                f"state_attr must be a valid attribute name, got {state_attr!r}. Pass e.g. state_attr='lr'."
            )
        super().__init__(lr_scheduler.optimizer, "lr", save_history=save_history)
        self.lr_scheduler = lr_scheduler
        self.metric = metric
        self.state_attr = state_attr
        self.use_legacy = _check_bool("use_legacy", use_legacy)
        # Whether the default event is ITERATION_COMPLETED and, where torch's step() drives the scheduler (ember's
        # form; CosineAnnealingWarmRestarts, which ignite starts one step ahead), whether the first event steps.
        self._step_at_first_event = (
            self.ember_form or use_legacy or isinstance(lr_scheduler, CosineAnnealingWarmRestarts)
        )
        #: ignite's form computes the rates as ignite does (get_lr, then last_epoch + 1) rather than stepping
        self._as_ignite = not self.ember_form and not isinstance(lr_scheduler, CosineAnnealingWarmRestarts)
        if self._as_ignite and use_legacy:
            lr_scheduler.last_epoch += 1  # the legacy timing: each event gives the rate one step later
        if self.ember_form:
            self._state_attrs = ["event_index", "_step_at_first_event", "lr_scheduler"]
        else:
            self._state_attrs = ["event_index", "param_name", "save_history", "param_group_index", "lr_scheduler"]

    @property
    def scheduler(self) -> TorchLRScheduler | ReduceLROnPlateau:
        """The torch scheduler (ember's name for :attr:`lr_scheduler`)."""
        return self.lr_scheduler

    @property
    def learning_rates(self) -> list[float]:
        """The current learning rate of each param group of the optimizer."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def attach(self, engine: Engine, event: Any = None) -> None:
        """Step the scheduler whenever ``event`` fires on ``engine``.

        The default event is ``ITERATION_COMPLETED`` for ember's form and ignite's
        ``use_legacy=True``, and ``ITERATION_STARTED`` for ignite's form. Use
        ``Events.EPOCH_COMPLETED`` for per-epoch schedules, the evaluator's ``Events.COMPLETED``
        for ``ReduceLROnPlateau``, or ``TrainerEvents.OPTIMIZER_STEP_COMPLETED`` with gradient
        accumulation. ember's form also records the rates at ``STARTED``.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.
        """
        if event is None:
            event = Events.ITERATION_COMPLETED if self._step_at_first_event else Events.ITERATION_STARTED
        super().attach(engine, event)
        if self.ember_form:
            engine.add_event_handler(Events.STARTED, self.record)

    def record(self, engine: Engine) -> None:
        """Store the current learning rates in ``engine.state.<state_attr>``."""
        setattr(engine.state, self.state_attr, self.learning_rates)

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """Step the scheduler (with the metric, for ``ReduceLROnPlateau``) and record the new rates.

        Raises:
            KeyError: the named metric is not in ``engine.state.metrics``.
            TypeError / ValueError: the metric is not a finite number.
        """
        scheduler = self.lr_scheduler
        if self._as_ignite:
            super().__call__(engine, name)  # sets _value(), records the history, counts the event
            scheduler.last_epoch += 1
            return
        _refuse_second_registration(self, engine)
        if isinstance(scheduler, ReduceLROnPlateau):
            if engine is None:
                raise ValueError("A ReduceLROnPlateau LRScheduler reads its metric from an engine; pass the engine.")
            scheduler.step(_metric_value(self.metric, engine))
        elif self.event_index > 0:
            scheduler.step()
        elif self._step_at_first_event:
            with warnings.catch_warnings():
                # At ITERATION_STARTED the first step comes before any optimizer.step(): intended here.
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
                scheduler.step()
        if self.save_history:
            _record_history(engine, name or self.param_name, self.optimizer_param_groups, "lr")
        self.event_index += 1
        if self.ember_form and engine is not None:
            self.record(engine)

    def get_param(self) -> float | list[float]:
        """The learning rate of each param group (one number for a single group) that the next event sets.

        For ember's form (and a ``CosineAnnealingWarmRestarts``), the rates now.
        """
        if self._as_ignite:
            return self._value()
        rates = self.learning_rates
        return rates[0] if len(rates) == 1 else rates

    def _value(self) -> float | list[float]:
        if not self._as_ignite:
            return self.get_param()
        scheduler = self.lr_scheduler
        # torch warns when get_lr() is called outside step(); this flag is how step() itself says it calls it
        scheduler._get_lr_called_within_step = True
        try:
            rates: list[Any] = list(scheduler.get_lr())
        finally:
            scheduler._get_lr_called_within_step = False
        return rates[0] if len(rates) == 1 else rates

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict` (the torch scheduler's state and the event count).

        Raises:
            TypeError: ``state_dict`` is not a mapping.
            ValueError: a key saved by :meth:`state_dict` is missing.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict expects a mapping, got {type(state_dict).__name__}. "
                "Pass a dict saved by LRScheduler.state_dict()."
            )
        if not self.ember_form and "_step_at_first_event" in state_dict:
            # saved by an earlier ember, which stepped the torch scheduler at each event (but the first, unless
            # _step_at_first_event): its last_epoch is one behind the count of get_lr() calls used now
            state_dict = dict(state_dict)
            stepped_first = bool(state_dict.pop("_step_at_first_event"))
            if self._as_ignite and (state_dict["event_index"] > 0 or stepped_first):
                state_dict["lr_scheduler"] = {
                    **state_dict["lr_scheduler"],
                    "last_epoch": state_dict["lr_scheduler"]["last_epoch"] + 1,
                }
            state_dict.setdefault("param_name", self.param_name)
            state_dict.setdefault("save_history", self.save_history)
            state_dict.setdefault("param_group_index", self.param_group_index)
        elif self.ember_form and "_step_at_first_event" not in state_dict:
            state_dict = {**state_dict, "_step_at_first_event": self._step_at_first_event}
        super().load_state_dict(state_dict)

    @classmethod
    def simulate_values(  # type: ignore[override]
        cls, num_events: int, lr_scheduler: TorchLRScheduler, **kwargs: Any
    ) -> list[list[Any]]:
        """``[[event_index, lr, ...], ...]`` for ``num_events`` events of ignite's form over ``lr_scheduler``.

        The scheduler and its optimizer are put back as they were afterwards.
        """
        _check_torch_scheduler(lr_scheduler)
        saved_scheduler = copy.deepcopy(lr_scheduler.state_dict())
        saved_optimizer = copy.deepcopy(lr_scheduler.optimizer.state_dict())
        try:
            scheduler = cls(lr_scheduler, save_history=False, **kwargs)
            values: list[list[Any]] = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "step() before optimizer.step()": nothing trains here
                for index in range(num_events):
                    scheduler(None)
                    values.append([index, *(group["lr"] for group in scheduler.optimizer_param_groups)])
        finally:
            lr_scheduler.load_state_dict(saved_scheduler)
            lr_scheduler.optimizer.load_state_dict(saved_optimizer)
        return values


def _metric_value(metric: Any, engine: Engine) -> float:
    if isinstance(metric, str):
        metrics = engine.state.metrics
        if metric not in metrics:
            raise KeyError(
                f"ReduceLROnPlateau watches the metric {metric!r}, but engine.state.metrics has only "
                f"{sorted(metrics)}. Attach the metric to this engine, or attach the scheduler to the engine "
                "that computes it (e.g. the evaluator, at Events.COMPLETED)."
            )
        value = metrics[metric]
    else:
        value = metric(engine)
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


class _GroupView(Optimizer):
    """One param group of an optimizer, seen as an optimizer, so a torch scheduler changes only that group."""

    def __init__(self, optimizer: Optimizer, index: int) -> None:  # Optimizer.__init__ would build new groups
        self.param_groups = [optimizer.param_groups[index]]
        self.defaults = optimizer.defaults
        self.state = optimizer.state


class ReduceLROnPlateauScheduler(ParamScheduler):
    """Lower the learning rate when a metric stops improving: torch's ``ReduceLROnPlateau``, driven by an engine.

    Args:
        optimizer: the optimizer.
        metric_name: the name in ``engine.state.metrics`` of the engine it is added to (typically
            the evaluator, at ``Events.COMPLETED``).
        trainer: the engine whose ``state.param_history`` receives the rates (``save_history``).
        save_history: record the rates after each event.
        param_group_index: change only this param group (all by default).
        **scheduler_kwargs: passed to :class:`torch.optim.lr_scheduler.ReduceLROnPlateau`
            (``mode``, ``factor``, ``patience``, ``threshold``, ``threshold_mode``, ``cooldown``,
            ``min_lr``, ``eps``).

    >>> optimizer = torch.optim.SGD([torch.zeros(1)], lr=0.1)
    >>> scheduler = ReduceLROnPlateauScheduler(optimizer, "loss", mode="min", factor=0.5, patience=1)
    >>> evaluator = Engine(lambda engine, batch: None)
    >>> rates = []
    >>> for loss in [3.0, 2.0, 2.5, 2.5, 1.0]:
    ...     evaluator.state.metrics["loss"] = loss
    ...     scheduler(evaluator)
    ...     rates.append(optimizer.param_groups[0]["lr"])
    >>> rates
    [0.1, 0.1, 0.1, 0.05, 0.05]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        metric_name: str,
        trainer: Engine | None = None,
        save_history: bool = False,
        param_group_index: int | None = None,
        **scheduler_kwargs: Any,
    ) -> None:
        super().__init__(optimizer, "lr", save_history=save_history, param_group_index=param_group_index)
        if not isinstance(metric_name, str):
            raise TypeError(
                f"metric_name must be the name of a metric in engine.state.metrics, got {metric_name!r} "
                f"({type(metric_name).__name__}). Pass e.g. metric_name='loss'."
            )
        if trainer is not None and not isinstance(trainer, Engine):
            raise TypeError(f"trainer must be an ember Engine or None, got {type(trainer).__name__}.")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
        kwargs = dict(scheduler_kwargs)
        kwargs.pop("verbose", None)  # torch deprecated it; save_history records the rates instead
        if param_group_index and kwargs.get("min_lr", 0) != 0:
            warnings.warn(
                f"ReduceLROnPlateauScheduler keeps param group {param_group_index}'s rate above "
                f"min_lr={kwargs['min_lr']!r}; ignite 0.5.5 ignores min_lr for any param group but 0 (it reads "
                "the bound of group 0, which is 0), so its rate may go lower there.",
                UserWarning,
                stacklevel=2,
            )
        view = optimizer if param_group_index is None else _GroupView(optimizer, param_group_index)
        try:
            self.scheduler = ReduceLROnPlateau(view, **kwargs)
        except TypeError as error:
            raise TypeError(
                f"ReduceLROnPlateauScheduler passes scheduler_kwargs to ReduceLROnPlateau: {error}"
            ) from None
        self.metric_name = metric_name
        self.trainer = trainer
        self._state_attrs += ["metric_name", "scheduler"]

    def attach(self, engine: Engine, event: Any = Events.COMPLETED) -> None:
        """Check the metric whenever ``event`` fires on ``engine`` (default: at the end of each evaluation)."""
        super().attach(engine, event)

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """Give the metric of ``engine`` to torch's scheduler; record the rates in ``trainer``'s history.

        Raises:
            KeyError: the metric is not in ``engine.state.metrics``.
            TypeError / ValueError: the metric is not a finite number.
        """
        if engine is None:
            raise ValueError("ReduceLROnPlateauScheduler reads its metric from an engine; pass the engine.")
        _refuse_second_registration(self, engine)
        self.scheduler.step(_metric_value(self.metric_name, engine))
        if self.save_history:
            _record_history(self.trainer, name or self.param_name, self.optimizer_param_groups, "lr")
        self.event_index += 1

    def get_param(self) -> float | list[float]:
        """The learning rate of each scheduled param group (one number for a single group)."""
        rates = [float(group["lr"]) for group in self.optimizer_param_groups]
        return rates[0] if len(rates) == 1 else rates

    @classmethod
    def simulate_values(  # type: ignore[override]
        cls, num_events: int, metric_values: Sequence[float], init_lr: float, **scheduler_kwargs: Any
    ) -> list[list[Any]]:
        """``[[event_index, lr], ...]`` after each of ``num_events`` metric values, from ``init_lr``."""
        if len(metric_values) != num_events:
            raise ValueError(
                f"metric_values has {len(metric_values)} values for num_events={num_events}. Give one per event."
            )
        for key in ("optimizer", "metric_name", "save_history"):
            scheduler_kwargs.pop(key, None)
        scheduler = cls(_fake_optimizer(init_lr), "metric", **scheduler_kwargs)
        engine = Engine(lambda engine, batch: None)
        values: list[list[Any]] = []
        for index, value in enumerate(metric_values):
            engine.state.metrics["metric"] = value
            scheduler(engine)
            values.append([index, scheduler.optimizer_param_groups[0]["lr"]])
        return values
