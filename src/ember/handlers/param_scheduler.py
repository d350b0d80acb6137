"""Parameter schedules for an optimizer's param groups, with ignite's classes and their values.

A scheduler is a handler: each time its event fires (``ITERATION_STARTED`` by default, as in
ignite) it sets ``param_name`` (``"lr"``, ``"momentum"`` ...) of the optimizer's param groups to
the schedule's value for that event, then counts the event. Values therefore follow the number of
events seen, ``event_index`` = 0, 1, 2 ... and equal ignite's at every step:

- :class:`PiecewiseLinear`: linear between ``(event_index, value)`` milestones, constant outside.
- :class:`LinearCyclicalScheduler`: ``start -> end -> start`` over each cycle (or one way, ``monotonic``).
- :class:`CosineAnnealingScheduler`: ``start + (end - start) * (1 - cos(pi * t)) / 2`` over each cycle.
- :class:`ConcatScheduler`: one schedule after the other, for given numbers of events.
- :class:`ParamGroupScheduler`: one schedule per param group.
- :class:`LRScheduler`: a :mod:`torch.optim.lr_scheduler` scheduler, stepped by the events.
- :func:`create_lr_scheduler_with_warmup`: a linear warm-up, then any of the above.
- :class:`ReduceLROnPlateauScheduler`: torch's ``ReduceLROnPlateau`` on a metric of an engine.

Where PyTorch has the schedule (``LRScheduler``, ``ReduceLROnPlateauScheduler``), the handler
drives PyTorch's scheduler rather than computing it again. With ``save_history=True`` each
event appends the param groups' values to ``engine.state.param_history[name]``.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, ReduceLROnPlateau
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach, check_callable

__all__ = [
    "BaseParamScheduler",
    "ConcatScheduler",
    "CosineAnnealingScheduler",
    "CyclicalScheduler",
    "LRScheduler",
    "LinearCyclicalScheduler",
    "ParamGroupScheduler",
    "ParamScheduler",
    "PiecewiseLinear",
    "ReduceLROnPlateauScheduler",
    "create_lr_scheduler_with_warmup",
]


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {name}={value!r} ({type(value).__name__}).")
    return float(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {name}={value!r} ({type(value).__name__}).")
    return value


def _record_history(engine: Engine | None, name: str, groups: Sequence[Mapping[str, Any]], param_name: str) -> None:
    """Append the groups' current values to ``engine.state.param_history[name]``."""
    if engine is None:
        return
    history: dict[str, list[list[Any]]] | None = getattr(engine.state, "param_history", None)
    if history is None:
        history = {}
        setattr(engine.state, "param_history", history)  # noqa: B010 - a user attribute of State
    history.setdefault(name, []).append([group[param_name] for group in groups])


def _fake_optimizer(lr: float = 0.01) -> Optimizer:
    """A one-parameter SGD optimizer, for simulations that must not touch a real one."""
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def _refuse_second_registration(handler: Any, engine: Engine | None) -> None:
    """A RuntimeError when ``handler`` runs twice in one firing of an event (added twice to it).

    ``attach`` refuses a second attachment; this catches the same mistake made through
    ``engine.add_event_handler``, which would step the schedule twice per event. A handler called twice
    for the same event count is the cheap sign; its registrations on that event confirm it.
    """
    if not isinstance(engine, Engine):
        return
    event = engine.last_event_name
    try:
        count = engine.state.get_event_attrib_value(event)
    except (ValueError, TypeError, AttributeError, KeyError):  # an event without a counter: nothing to compare
        return
    key = (id(engine), event, count)
    if key == getattr(handler, "_last_event_key", None):
        counted = getattr(engine, "event_handler_count", None)  # a hand-built engine in a unit test may lack it
        if counted is not None and counted(handler, event) > 1:
            owner = type(handler).__name__
            raise RuntimeError(
                f"This {owner} was added more than once to {getattr(event, 'name', event)}, so it would step the "
                f"schedule twice per event. Add it once: {owner.lower()}.attach(engine) or "
                f"engine.add_event_handler(event, {owner.lower()}), not both nor twice."
            )
    handler._last_event_key = key


class BaseParamScheduler:
    """What every parameter scheduler has: a name, an event count, an optional history, a state dict.

    Subclasses give :meth:`get_param` (the value at the current ``event_index``) and
    :meth:`simulate_values`.
    """

    def __init__(self, param_name: str, save_history: bool = False) -> None:
        if not isinstance(param_name, str) or not param_name:
            raise TypeError(
                f"param_name must be the name of a param group entry, got {param_name!r}. Pass e.g. param_name='lr'."
            )
        self.param_name = param_name
        #: how many events the scheduler has seen
        self.event_index = 0
        self._save_history = _check_bool("save_history", save_history)
        self._state_attrs = ["event_index", "param_name", "save_history"]

    @property
    def save_history(self) -> bool:
        """Whether each event appends the values to ``engine.state.param_history``."""
        return self._save_history

    @save_history.setter
    def save_history(self, value: bool) -> None:
        self._save_history = _check_bool("save_history", value)

    def get_param(self) -> float | list[float]:
        """The value (or one value per param group) for the current ``event_index``."""
        raise NotImplementedError(f"{type(self).__name__} must define get_param().")

    def state_dict(self) -> dict[str, Any]:
        """Where the schedule stands (event count, mutable settings), for checkpoints."""
        saved: dict[str, Any] = {}
        for name in self._state_attrs:
            value = getattr(self, name)
            saved[name] = value.state_dict() if hasattr(value, "state_dict") else copy.copy(value)
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError: ``state_dict`` is not a mapping.
            ValueError: a key saved by :meth:`state_dict` is missing.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict expects a mapping, got {type(state_dict).__name__}. "
                f"Pass a dict saved by {type(self).__name__}.state_dict()."
            )
        missing = [name for name in self._state_attrs if name not in state_dict]
        if missing:
            raise ValueError(
                f"The state dict misses the keys {missing} (it has {sorted(state_dict)}). "
                f"Pass a dict saved by {type(self).__name__}.state_dict()."
            )
        for name in self._state_attrs:
            value, current = state_dict[name], getattr(self, name)
            if isinstance(value, Mapping) and hasattr(current, "load_state_dict"):
                current.load_state_dict(value)
            else:
                setattr(self, name, value)

    @classmethod
    def simulate_values(cls, num_events: int, **scheduler_kwargs: Any) -> list[list[Any]]:
        """``[[event_index, value], ...]`` for ``num_events`` events of a scheduler built with ``scheduler_kwargs``."""
        raise NotImplementedError(f"{cls.__name__} must define simulate_values().")

    @classmethod
    def plot_values(cls, num_events: int, **scheduler_kwargs: Any) -> Any:
        """Plot :meth:`simulate_values` with matplotlib and return the matplotlib ``Axes``.

        Raises:
            ImportError: matplotlib is not installed (``pip install 'ember[plot]'``).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "plot_values draws with matplotlib, which is not installed. Install it with "
                "`pip install 'ember[plot]'` (or `pip install matplotlib`), or use simulate_values()."
            ) from None
        values = cls.simulate_values(num_events=num_events, **scheduler_kwargs)
        label = str(scheduler_kwargs.get("param_name", "lr"))
        _, axes = plt.subplots()
        axes.plot([row[0] for row in values], [row[1:] for row in values], label=label)
        axes.set_xlabel("events")
        axes.set_ylabel(label)
        axes.legend()
        return axes


def _check_optimizer(optimizer: Any) -> None:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(optimizer, Optimizer) and not isinstance(groups, Sequence):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer (or an object with a param_groups list), got "
            f"{type(optimizer).__name__}. Pass the optimizer whose parameter the schedule sets."
        )


class ParamScheduler(BaseParamScheduler):
    """Sets ``param_name`` of an optimizer's param groups to :meth:`get_param` at each event.

    Args:
        optimizer: the optimizer (or any object with a ``param_groups`` list).
        param_name: the param group entry to set (``"lr"``, ``"momentum"``, ``"weight_decay"`` ...);
            as in ignite, an entry the groups lack (``"lr (base)"``) is created at the first event,
            with a warning (the optimizer does not read it).
        save_history: append the values to ``engine.state.param_history[param_name]`` at each event.
        param_group_index: schedule only this param group; all of them by default.

    The scheduler sets absolute values whatever the optimizer held before. Add it with
    ``trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)`` (ignite's spelling) or
    :meth:`attach`; calling ``scheduler(engine)`` does one event by hand.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        param_name: str,
        save_history: bool = False,
        param_group_index: int | None = None,
    ) -> None:
        super().__init__(param_name, save_history)
        _check_optimizer(optimizer)
        groups = optimizer.param_groups
        if param_group_index is not None:
            if isinstance(param_group_index, bool) or not isinstance(param_group_index, int):
                raise TypeError(
                    f"param_group_index must be a whole number or None, got {param_group_index!r} "
                    f"({type(param_group_index).__name__})."
                )
            if not 0 <= param_group_index < len(groups):
                raise ValueError(
                    f"param_group_index={param_group_index} is out of range: the optimizer has {len(groups)} param "
                    f"group(s). Pass an index from 0 to {len(groups) - 1}, or None for all groups."
                )
        self.optimizer = optimizer
        self.param_group_index = param_group_index
        self._state_attrs += ["param_group_index"]
        lacking = [
            index
            for index, group in enumerate(groups)
            if param_name not in group and param_group_index in (None, index)
        ]
        if lacking:
            # ignite creates the entry at the first event (its docs schedule e.g. "lr (base)"); so does ember,
            # but says so: a misspelt name would otherwise change nothing, silently.
            warnings.warn(
                f"param_name={param_name!r} is not an entry of the optimizer's param group(s) {lacking} (they have "
                f"{sorted(groups[lacking[0]])}). As in ignite, the scheduler creates it, but the optimizer "
                "does not read it: check the name if the schedule is meant to change the training.",
                UserWarning,
                stacklevel=3,
            )

    @property
    def optimizer_param_groups(self) -> list[dict[str, Any]]:
        """The param groups this scheduler sets."""
        groups = list(self.optimizer.param_groups)
        return groups if self.param_group_index is None else [groups[self.param_group_index]]

    def attach(self, engine: Engine, event: Any = Events.ITERATION_STARTED) -> None:
        """Set the value whenever ``event`` fires on ``engine`` (default: at the start of each iteration).

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the scheduler is already attached to ``engine``.
        """
        check_attach(
            type(self).__name__,
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="step the schedule twice per event",
            fix="Attach it once.",
        )
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """Set the current value on the param groups, record it (``save_history``), count the event."""
        _refuse_second_registration(self, engine)
        value = self._value()
        groups = self.optimizer_param_groups
        if isinstance(value, list):
            if len(value) != len(groups):
                raise ValueError(
                    f"{type(self).__name__} gave {len(value)} values for {len(groups)} param groups. Give one value, "
                    "or one per param group."
                )
            for group, item in zip(groups, value, strict=True):
                group[self.param_name] = item
        else:
            for group in groups:
                group[self.param_name] = value
        if self.save_history:
            _record_history(engine, name or self.param_name, groups, self.param_name)
        self.event_index += 1

    def _value(self) -> float | list[float]:
        return self.get_param()

    @classmethod
    def simulate_values(cls, num_events: int, **scheduler_kwargs: Any) -> list[list[Any]]:
        """``[[event_index, value], ...]``: the values the schedule sets at each of ``num_events`` events.

        The schedule runs on a throw-away optimizer; an ``optimizer`` in ``scheduler_kwargs`` is ignored.

        >>> LinearCyclicalScheduler.simulate_values(4, param_name="lr", start_value=1.0, end_value=0.0, cycle_size=4)
        [[0, 1.0], [1, 0.5], [2, 0.0], [3, 0.5]]
        """
        kwargs = {key: value for key, value in scheduler_kwargs.items() if key not in ("optimizer", "save_history")}
        with warnings.catch_warnings():  # a name the throw-away optimizer lacks is created there, to no harm
            warnings.filterwarnings("ignore", "param_name=.* is not an entry", UserWarning)
            scheduler = cls(optimizer=_fake_optimizer(), save_history=False, **kwargs)
        values: list[list[Any]] = []
        for index in range(num_events):
            scheduler(None)
            values.append([index, scheduler.optimizer_param_groups[0][scheduler.param_name]])
        return values


class PiecewiseLinear(ParamScheduler):
    """Linear between milestones ``[(event_index, value), ...]``, constant before the first and after the last.

    Args:
        optimizer, param_name, save_history, param_group_index: see :class:`ParamScheduler`.
        milestones_values: ``(event_index, value)`` pairs with non-decreasing event indices.

    >>> values = PiecewiseLinear.simulate_values(6, param_name="lr", milestones_values=[(1, 1.0), (3, 0.0)])
    >>> [value for _, value in values]
    [1.0, 1.0, 0.5, 0.0, 0.0, 0.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        param_name: str,
        milestones_values: Sequence[tuple[int, float]],
        save_history: bool = False,
        param_group_index: int | None = None,
    ) -> None:
        super().__init__(optimizer, param_name, save_history, param_group_index)
        if isinstance(milestones_values, str) or not isinstance(milestones_values, Sequence) or not milestones_values:
            raise ValueError(
                f"milestones_values must be a non-empty list of (event_index, value) pairs, got {milestones_values!r}. "
                "Pass e.g. [(0, 0.0), (100, 0.1)]."
            )
        milestones: list[int] = []
        values: list[float] = []
        for pair in milestones_values:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"milestones_values must hold (event_index, value) pairs, got {pair!r}. "
                    "Pass e.g. [(0, 0.0), (100, 0.1)]."
                )
            milestone, value = pair
            if isinstance(milestone, bool) or not isinstance(milestone, numbers.Integral):
                raise TypeError(f"A milestone must be a whole number of events, got {milestone!r} in {pair!r}.")
            if milestones and milestone < milestones[-1]:
                raise ValueError(
                    f"Milestones must not decrease, but {milestone} comes after {milestones[-1]}. "
                    "Sort milestones_values by event index."
                )
            milestones.append(int(milestone))
            values.append(_check_number("A milestone's value", value))
        self.milestones = milestones
        self.values = values
        self._state_attrs += ["milestones", "values"]

    def state_dict(self) -> dict[str, Any]:
        """Where the schedule stands, with ignite's keys (its ``_index``: the segment of the last event)."""
        saved = super().state_dict()
        last = self.event_index - 1
        saved["_index"] = max(0, min(bisect_right(self.milestones, last) - 1, len(self.milestones) - 2))
        return saved

    def get_param(self) -> float:
        """The value at ``event_index``: interpolated between the milestones around it."""
        index, milestones, values = self.event_index, self.milestones, self.values
        if index < milestones[0]:
            return values[0]
        if index >= milestones[-1]:
            return values[-1]
        right = bisect_right(milestones, index)  # milestones[right - 1] <= index < milestones[right]
        start, end = milestones[right - 1], milestones[right]
        return values[right - 1] + (values[right] - values[right - 1]) * (index - start) / (end - start)


class CyclicalScheduler(ParamScheduler):
    """A schedule that repeats over cycles of ``cycle_size`` events, optionally changing from cycle to cycle.

    Args:
        optimizer, param_name, save_history, param_group_index: see :class:`ParamScheduler`.
        start_value: the value at the start of a cycle.
        end_value: the value the cycle goes to.
        cycle_size: events per cycle (>= 2).
        cycle_mult: each cycle is this many times longer than the one before (rounded down).
        start_value_mult, end_value_mult: ``start_value`` / ``end_value`` are multiplied by these at
            the end of each cycle.
        warmup_duration: events of a linear ramp from the cycle's end value back to its start value
            after each cycle (also scaled by ``cycle_mult``).

    Subclasses give the shape of one cycle in :meth:`get_param`, from ``event_index / cycle_size``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        param_name: str,
        start_value: float,
        end_value: float,
        cycle_size: int,
        cycle_mult: float = 1.0,
        start_value_mult: float = 1.0,
        end_value_mult: float = 1.0,
        warmup_duration: int = 0,
        save_history: bool = False,
        param_group_index: int | None = None,
    ) -> None:
        super().__init__(optimizer, param_name, save_history, param_group_index)
        if isinstance(cycle_size, bool) or not isinstance(cycle_size, numbers.Integral) or cycle_size < 2:
            raise ValueError(
                f"cycle_size must be a whole number of events >= 2, got cycle_size={cycle_size!r}. "
                "For a per-iteration schedule it is usually the number of iterations of an epoch."
            )
        if (
            isinstance(warmup_duration, bool)
            or not isinstance(warmup_duration, numbers.Integral)
            or warmup_duration < 0
        ):
            raise ValueError(f"warmup_duration must be a whole number >= 0, got warmup_duration={warmup_duration!r}.")
        self.start_value: float = _check_number("start_value", start_value)
        self.end_value: float = _check_number("end_value", end_value)
        self.cycle_size: int = int(cycle_size)
        self.cycle_mult: float = _check_number("cycle_mult", cycle_mult)
        self.start_value_mult: float = _check_number("start_value_mult", start_value_mult)
        self.end_value_mult: float = _check_number("end_value_mult", end_value_mult)
        self.warmup_duration: int = int(warmup_duration)
        self.total_cycle_size: int = self.warmup_duration + self.cycle_size
        #: how many cycles are complete
        self.cycle: int = 0
        self._state_attrs += [
            "start_value",
            "end_value",
            "cycle_size",
            "cycle_mult",
            "cycle",
            "start_value_mult",
            "end_value_mult",
            "warmup_duration",
            "total_cycle_size",
        ]

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """Move to the next cycle when this one is over, then set the value as :class:`ParamScheduler` does."""
        if self.event_index and self.event_index == self.cycle_size:
            self.start_value *= self.start_value_mult  # the warm-up (if any) ramps to the next cycle's start
        if self.event_index and self.event_index == self.total_cycle_size:
            self.event_index = 0
            self.cycle_size = int(self.cycle_size * self.cycle_mult)
            self.warmup_duration = int(self.warmup_duration * self.cycle_mult)
            self.total_cycle_size = self.warmup_duration + self.cycle_size
            self.cycle += 1
            self.end_value *= self.end_value_mult
        super().__call__(engine, name)

    def _value(self) -> float | list[float]:
        if self.event_index > self.cycle_size:  # in the warm-up after the cycle
            progress = (self.event_index - self.cycle_size) / self.warmup_duration
            return self.end_value + (self.start_value - self.end_value) * progress
        return self.get_param()


class LinearCyclicalScheduler(CyclicalScheduler):
    """Linear from ``start_value`` to ``end_value`` in half a cycle and back in the other half.

    With ``monotonic=True`` it goes one way over the whole cycle (then jumps back, or ramps back
    over ``warmup_duration`` events, which only the monotonic form allows). Value at ``t =
    event_index / cycle_size``: ``end + (start - end) * |2t - 1|``, or ``start + (end - start) * t``.
    All other arguments are :class:`CyclicalScheduler`'s.

    >>> values = LinearCyclicalScheduler.simulate_values(
    ...     5, param_name="lr", start_value=0.0, end_value=1.0, cycle_size=4, monotonic=True
    ... )
    >>> [value for _, value in values]
    [0.0, 0.25, 0.5, 0.75, 0.0]
    """

    def __init__(self, *args: Any, monotonic: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.monotonic = _check_bool("monotonic", monotonic)
        if self.warmup_duration > 0 and not monotonic:
            raise ValueError(
                f"warmup_duration={self.warmup_duration} needs monotonic=True: a two-way cycle already returns to "
                "its start value. Pass monotonic=True, or warmup_duration=0."
            )

    def get_param(self) -> float:
        """The value at ``event_index`` of the current cycle."""
        progress = self.event_index / self.cycle_size
        if self.monotonic:
            return self.start_value + (self.end_value - self.start_value) * progress
        return self.end_value + (self.start_value - self.end_value) * abs(2.0 * progress - 1.0)


class CosineAnnealingScheduler(CyclicalScheduler):
    """Half a cosine from ``start_value`` to ``end_value`` over each cycle (Smith, 2017).

    Value at ``t = event_index / cycle_size``: ``start + (end - start) * (1 - cos(pi * t)) / 2``.
    All arguments are :class:`CyclicalScheduler`'s.

    >>> values = CosineAnnealingScheduler.simulate_values(
    ...     3, param_name="lr", start_value=1.0, end_value=0.0, cycle_size=2
    ... )
    >>> [round(value, 6) for _, value in values]
    [1.0, 0.5, 1.0]
    """

    def get_param(self) -> float:
        """The value at ``event_index`` of the current cycle."""
        progress = self.event_index / self.cycle_size
        return self.start_value + (self.end_value - self.start_value) * (1.0 - math.cos(math.pi * progress)) / 2.0


def _optimizers_and_names(schedulers: Sequence[Any]) -> tuple[list[Any], list[str]]:
    optimizers: list[Any] = []
    names: list[str] = []
    for scheduler in schedulers:
        optimizer, name = scheduler.optimizer, scheduler.param_name
        optimizers.extend(optimizer if isinstance(optimizer, list) else [optimizer])
        names.extend(name if isinstance(name, list) else [name])
    return optimizers, names


class ParamGroupScheduler:
    """Several schedulers stepped together, e.g. one per param group; a handler like each of them.

    Args:
        schedulers: the parameter schedulers.
        names: the name of each in ``engine.state.param_history`` (default: their ``param_name``).
        save_history: sets ``save_history`` of every scheduler.

    >>> optimizer = torch.optim.SGD(
    ...     [{"params": [torch.zeros(1)]}, {"params": [torch.zeros(1)]}], lr=0.1
    ... )
    >>> scheduler = ParamGroupScheduler([
    ...     PiecewiseLinear(optimizer, "lr", [(0, 0.0), (2, 0.2)], param_group_index=0),
    ...     PiecewiseLinear(optimizer, "lr", [(0, 1.0), (2, 0.0)], param_group_index=1),
    ... ])
    >>> scheduler(None); scheduler(None)
    >>> [group["lr"] for group in optimizer.param_groups]
    [0.1, 0.5]
    """

    def __init__(
        self, schedulers: Sequence[ParamScheduler], names: Sequence[str] | None = None, save_history: bool = False
    ) -> None:
        if isinstance(schedulers, str) or not isinstance(schedulers, Sequence) or not schedulers:
            raise TypeError(f"schedulers must be a non-empty list of parameter schedulers, got {schedulers!r}.")
        wrong = [type(s).__name__ for s in schedulers if not isinstance(s, ParamScheduler)]
        if wrong:
            raise TypeError(
                f"schedulers must hold parameter schedulers (PiecewiseLinear, LRScheduler ...), got {wrong}."
            )
        if names is None:
            names = [scheduler.param_name for scheduler in schedulers]
        if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a list of strings, got {names!r}.")
        if len(names) != len(schedulers):
            raise ValueError(
                f"names has {len(names)} entries for {len(schedulers)} schedulers. Give one name per scheduler."
            )
        self.schedulers = list(schedulers)
        self.names = list(names)
        self.save_history = _check_bool("save_history", save_history)
        self.optimizer = [scheduler.optimizer for scheduler in self.schedulers]
        self.param_name = [scheduler.param_name for scheduler in self.schedulers]

    @property
    def save_history(self) -> bool:
        """Whether the schedulers record their values in ``engine.state.param_history``."""
        return self.schedulers[0].save_history

    @save_history.setter
    def save_history(self, value: bool) -> None:
        for scheduler in self.schedulers:
            scheduler.save_history = value

    @property
    def optimizer_param_groups(self) -> list[dict[str, Any]]:
        """The param groups of all the schedulers, in order."""
        return [group for scheduler in self.schedulers for group in scheduler.optimizer_param_groups]

    def attach(self, engine: Engine, event: Any = Events.ITERATION_STARTED) -> None:
        """Step the schedulers whenever ``event`` fires on ``engine``.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: already attached to ``engine``.
        """
        check_attach(
            "ParamGroupScheduler",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="step the schedules twice per event",
            fix="Attach it once.",
        )
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """One event for every scheduler, each recorded under its own name."""
        _refuse_second_registration(self, engine)
        for scheduler, scheduler_name in zip(self.schedulers, self.names, strict=True):
            scheduler(engine, scheduler_name)

    def get_param(self) -> list[float | list[float]]:
        """Each scheduler's current value."""
        return [scheduler.get_param() for scheduler in self.schedulers]

    def state_dict(self) -> dict[str, Any]:
        """``{"schedulers": [(name, state_dict), ...]}``, for checkpoints."""
        return {"schedulers": [(n, s.state_dict()) for n, s in zip(self.names, self.schedulers, strict=True)]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict` of this grouping.
        """
        if not isinstance(state_dict, Mapping) or "schedulers" not in state_dict:
            raise TypeError(
                "load_state_dict expects a mapping with a 'schedulers' list, saved by ParamGroupScheduler.state_dict()."
            )
        saved = list(state_dict["schedulers"])
        if len(saved) != len(self.schedulers):
            raise ValueError(
                f"The state dict holds {len(saved)} schedulers, but this ParamGroupScheduler has "
                f"{len(self.schedulers)}. Load a state saved by the same grouping."
            )
        for expected, scheduler, (name, scheduler_state) in zip(self.names, self.schedulers, saved, strict=True):
            if name != expected:
                raise ValueError(
                    f"The state dict's scheduler {name!r} is where this grouping has {expected!r}. Load a state "
                    "saved by the same grouping."
                )
            scheduler.load_state_dict(scheduler_state)

    @classmethod
    def simulate_values(cls, num_events: int, schedulers: Sequence[ParamScheduler], **kwargs: Any) -> list[list[Any]]:
        """``[[event_index, value_0, value_1, ...], ...]``: each scheduler's value before each event.

        The schedulers and their optimizers are put back as they were afterwards.
        """
        with _restored(schedulers):
            grouped = cls(schedulers=schedulers, **kwargs)
            values: list[list[Any]] = []
            for index in range(num_events):
                values.append([index, *(scheduler.get_param() for scheduler in schedulers)])
                grouped(None)
        return values


class _restored:
    """Put schedulers and their optimizers back as they were when the block ends (for simulations)."""

    def __init__(self, schedulers: Sequence[Any]) -> None:
        self.schedulers = list(schedulers)
        optimizers, _ = _optimizers_and_names(self.schedulers)
        self.optimizers = list({id(optimizer): optimizer for optimizer in optimizers}.values())

    def __enter__(self) -> None:
        self.saved = [copy.deepcopy(scheduler.state_dict()) for scheduler in self.schedulers]
        self.saved_optimizers = [copy.deepcopy(optimizer.state_dict()) for optimizer in self.optimizers]

    def __exit__(self, *exc_info: object) -> None:
        for scheduler, state in zip(self.schedulers, self.saved, strict=True):
            scheduler.load_state_dict(state)
        for optimizer, state in zip(self.optimizers, self.saved_optimizers, strict=True):
            optimizer.load_state_dict(state)


class ConcatScheduler(ParamScheduler):
    """Run ``schedulers`` one after the other: the first for ``durations[0]`` events, and so on.

    Args:
        schedulers: two or more parameter schedulers (or :class:`ParamGroupScheduler`) of one
            optimizer and one ``param_name``; the last runs for the rest of the training.
        durations: events given to each scheduler but the last (one fewer than ``schedulers``).
        save_history: sets ``save_history`` of every scheduler.

    Each scheduler starts from its own ``event_index`` 0 when its turn comes.

    >>> optimizer = torch.optim.SGD([torch.zeros(1)], lr=0.1)
    >>> scheduler = ConcatScheduler(
    ...     [
    ...         LinearCyclicalScheduler(optimizer, "lr", 0.0, 1.0, cycle_size=8),
    ...         CosineAnnealingScheduler(optimizer, "lr", 1.0, 0.2, cycle_size=4),
    ...     ],
    ...     durations=[4],
    ... )
    >>> values = []
    >>> for _ in range(6):
    ...     scheduler(None)
    ...     values.append(round(optimizer.param_groups[0]["lr"], 4))
    >>> values
    [0.0, 0.25, 0.5, 0.75, 1.0, 0.8828]
    """

    def __init__(
        self,
        schedulers: Sequence[ParamScheduler | ParamGroupScheduler],
        durations: Sequence[int],
        save_history: bool = False,
    ) -> None:
        if isinstance(schedulers, str) or not isinstance(schedulers, Sequence):
            raise TypeError(f"schedulers must be a list of parameter schedulers, got {schedulers!r}.")
        if len(schedulers) < 2:
            raise ValueError(
                f"ConcatScheduler needs at least two schedulers to chain, got {len(schedulers)}. "
                "Use the scheduler itself when there is only one."
            )
        if not isinstance(durations, (list, tuple)):
            raise TypeError(f"durations must be a list of whole numbers of events, got {durations!r}.")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in durations):
            raise ValueError(f"durations must hold whole numbers of events >= 0, got {list(durations)}.")
        if len(schedulers) != len(durations) + 1:
            raise ValueError(
                f"{len(schedulers)} schedulers need {len(schedulers) - 1} durations (the last one runs to the end), "
                f"got {len(durations)}."
            )
        wrong = [type(s).__name__ for s in schedulers if not isinstance(s, (ParamScheduler, ParamGroupScheduler))]
        if wrong:
            raise TypeError(f"schedulers must hold parameter schedulers, got {wrong}.")
        optimizers, names = _optimizers_and_names(schedulers)
        if len({id(optimizer) for optimizer in optimizers}) != 1:
            raise ValueError("The schedulers of a ConcatScheduler must all set the same optimizer.")
        if len(set(names)) != 1:
            raise ValueError(
                f"The schedulers of a ConcatScheduler must all set the same parameter, got {sorted(set(names))}."
            )
        self.schedulers = list(schedulers)
        self.durations = [int(d) for d in durations]
        skipped = [index for index, duration in enumerate(self.durations) if duration == 0 and index > 0]
        if skipped:
            warnings.warn(
                f"ConcatScheduler: schedulers{skipped} have a duration of 0, so ember skips them; "
                "ignite 0.5.5 stays on such a scheduler for the rest of the run. Remove them to get the same "
                "schedule from both.",
                UserWarning,
                stacklevel=2,
            )
        self._scheduler_index = 0
        self._current_duration = self.durations[0]
        super().__init__(optimizers[0], names[0], save_history)
        self.save_history = save_history
        self._state_attrs += ["_scheduler_index", "_current_duration", "durations"]

    @property
    def save_history(self) -> bool:
        """Whether the schedulers record their values in ``engine.state.param_history``."""
        return self._save_history

    @save_history.setter
    def save_history(self, value: bool) -> None:
        self._save_history = _check_bool("save_history", value)
        for scheduler in getattr(self, "schedulers", ()):
            scheduler.save_history = value

    @property
    def current_scheduler(self) -> ParamScheduler | ParamGroupScheduler:
        """The scheduler whose turn it is."""
        return self.schedulers[self._scheduler_index]

    @property
    def optimizer_param_groups(self) -> list[dict[str, Any]]:
        """The param groups the current scheduler sets."""
        return self.current_scheduler.optimizer_param_groups

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """One event for the scheduler whose turn it is; the next one's turn comes after its duration."""
        _refuse_second_registration(self, engine)
        while self._current_duration == 0 and self._scheduler_index < len(self.durations):
            self._scheduler_index += 1
            last = self._scheduler_index == len(self.durations)
            self._current_duration = -1 if last else self.durations[self._scheduler_index]
        self.current_scheduler(engine, name)
        self._current_duration -= 1
        # as in ignite, the chain's own event_index stays 0: each scheduler counts its own events

    def get_param(self) -> Any:
        """The current scheduler's value."""
        return self.current_scheduler.get_param()

    def state_dict(self) -> dict[str, Any]:
        """Where the chain stands, with each scheduler's state, for checkpoints."""
        saved = super().state_dict()
        saved["schedulers"] = [scheduler.state_dict() for scheduler in self.schedulers]
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict` of this chain.
        """
        if not isinstance(state_dict, Mapping) or "schedulers" not in state_dict:
            raise TypeError(
                "load_state_dict expects a mapping with a 'schedulers' list, saved by ConcatScheduler.state_dict()."
            )
        saved = list(state_dict["schedulers"])
        if len(saved) != len(self.schedulers):
            raise ValueError(
                f"The state dict holds {len(saved)} schedulers, but this ConcatScheduler chains "
                f"{len(self.schedulers)}. Load a state saved by the same chain."
            )
        for scheduler, scheduler_state in zip(self.schedulers, saved, strict=True):
            scheduler.load_state_dict(scheduler_state)
        super().load_state_dict(state_dict)

    @classmethod
    def simulate_values(  # type: ignore[override]
        cls,
        num_events: int,
        schedulers: Sequence[ParamScheduler | ParamGroupScheduler],
        durations: Sequence[int],
        param_names: Sequence[str] | None = None,
    ) -> list[list[Any]]:
        """``[[event_index, value, ...], ...]``: the values set at each event (one per param group).

        The schedulers and their optimizer are put back as they were afterwards.
        """
        if param_names is not None and (
            isinstance(param_names, str) or not all(isinstance(name, str) for name in param_names)
        ):
            raise TypeError(f"param_names must be a list of parameter names, got {param_names!r}.")
        with _restored(schedulers):
            for scheduler in schedulers:
                scheduler.save_history = False
            chain = cls(schedulers=schedulers, durations=durations, save_history=False)
            names = list(param_names) if param_names is not None else [chain.param_name]
            values: list[list[Any]] = []
            for index in range(num_events):
                chain(None)
                row: list[Any] = [index]
                for name in names:
                    row.extend(group[name] for group in chain.optimizer_param_groups)
                values.append(row)
        return values


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


def create_lr_scheduler_with_warmup(
    lr_scheduler: ParamScheduler | TorchLRScheduler,
    warmup_start_value: float,
    warmup_duration: int,
    warmup_end_value: float | None = None,
    save_history: bool = False,
    output_simulated_values: list[Any] | None = None,
) -> ConcatScheduler:
    """A linear warm-up of the learning rate over ``warmup_duration`` events, then ``lr_scheduler``.

    Args:
        lr_scheduler: what follows the warm-up: a parameter scheduler, or a torch scheduler
            (wrapped in ignite's form of :class:`LRScheduler`).
        warmup_start_value: the rate at the first event.
        warmup_duration: events of the warm-up (>= 2); the rate reaches ``warmup_end_value`` at
            event ``warmup_duration - 1``.
        warmup_end_value: the rate the warm-up ends on; by default each param group's rate now.
        save_history: record the rates in ``engine.state.param_history``.
        output_simulated_values: a list (e.g. ``[None] * 100``) to fill with the simulated
            ``[event_index, lr]`` of that many events.

    With a torch scheduler whose starting rate differs from ``warmup_end_value``, one more event
    at the starting rate follows the warm-up; with a parameter scheduler that starts at
    ``warmup_end_value``, the warm-up stops one step short of it so that no value repeats.
    Add the result like any scheduler, at ``Events.ITERATION_STARTED``. With several param groups
    the rules are ignite's, to the letter: only the first group gets that extra event (the torch
    scheduler goes on from the others' ``warmup_end_value``), the last group's warm-up sets the
    duration, and a parameter scheduler giving one value per group never counts as starting at
    ``warmup_end_value``.

    >>> optimizer = torch.optim.SGD([torch.zeros(1)], lr=0.1)
    >>> torch_scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.98)
    >>> scheduler = create_lr_scheduler_with_warmup(torch_scheduler, 0.0, warmup_duration=3, warmup_end_value=0.1)
    >>> trainer = Engine(lambda engine, batch: optimizer.step())
    >>> rates = []
    >>> _ = trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    >>> _ = trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda: rates.append(optimizer.param_groups[0]["lr"]))
    >>> _ = trainer.run([0] * 5)
    >>> [round(rate, 5) for rate in rates]
    [0.0, 0.05, 0.1, 0.098, 0.09604]
    """
    if not isinstance(lr_scheduler, (ParamScheduler, TorchLRScheduler)):
        raise TypeError(
            f"lr_scheduler must be a parameter scheduler or a torch.optim.lr_scheduler scheduler, got "
            f"{type(lr_scheduler).__name__}."
        )
    if isinstance(warmup_duration, bool) or not isinstance(warmup_duration, int):
        raise TypeError(f"warmup_duration must be a whole number of events, got {warmup_duration!r}.")
    if warmup_duration < 2:
        raise ValueError(
            f"warmup_duration must be at least 2 events (a start and an end), got warmup_duration={warmup_duration}."
        )
    _check_number("warmup_start_value", warmup_start_value)
    if warmup_end_value is not None:
        _check_number("warmup_end_value", warmup_end_value)
    optimizer = lr_scheduler.optimizer
    after: ParamScheduler
    if isinstance(lr_scheduler, TorchLRScheduler):
        # as ignite: the warm-up's last value stands in for the scheduler's first one, which is skipped
        lr_scheduler.last_epoch += 1
        after = LRScheduler(lr_scheduler, save_history=save_history)
    else:
        after = lr_scheduler
    warmups: list[ParamScheduler] = []
    duration = 0
    for index, group in enumerate(optimizer.param_groups):
        end = group["lr"] if warmup_end_value is None else warmup_end_value
        milestones: list[tuple[int, float]] = [(0, warmup_start_value), (warmup_duration - 1, end)]
        if isinstance(lr_scheduler, TorchLRScheduler):
            # As in ignite, only the first param group hands over to the torch scheduler's own start: the others
            # end the warm-up at its end value, which the torch scheduler then goes on from.
            if index == 0 and group["lr"] != end:
                milestones.append((warmup_duration, group["lr"]))
        else:
            first = lr_scheduler.get_param()
            # as in ignite, a list of values (one per group) never equals the end value
            if not isinstance(first, list) and first == end:  # the first value is the warm-up's last: no repeat
                if warmup_duration > 2:
                    step = (end - warmup_start_value) / (warmup_duration - 1)
                    milestones[-1] = (warmup_duration - 2, end - step)
                else:
                    milestones.pop()
        duration = milestones[-1][0] + 1  # as in ignite, the last param group's warm-up sets the duration
        warmups.append(PiecewiseLinear(optimizer, "lr", milestones, save_history, param_group_index=index))
    schedulers: list[ParamScheduler | ParamGroupScheduler] = [
        ParamGroupScheduler(warmups, save_history=save_history),
        after,
    ]
    combined = ConcatScheduler(schedulers, durations=[duration], save_history=save_history)
    if output_simulated_values is not None:
        if not isinstance(output_simulated_values, list):
            raise TypeError(
                f"output_simulated_values must be a list to fill, e.g. [None] * 100, got "
                f"{type(output_simulated_values).__name__}."
            )
        simulated = ConcatScheduler.simulate_values(
            num_events=len(output_simulated_values), schedulers=schedulers, durations=[duration]
        )
        output_simulated_values[:] = simulated
    return combined
