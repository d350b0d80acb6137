"""The parameter schedulers' base classes and shared checks (see :mod:`ember.handlers.param_scheduler`)."""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch
from torch.optim import Optimizer

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach

ValueT = TypeVar("ValueT")


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {name}={value!r} ({type(value).__name__}).")
    return float(value)


def _milestone_pairs(
    milestones_values: Sequence[Any], check_value: Callable[[str, Any], ValueT], example: str
) -> tuple[list[int], list[ValueT]]:
    """The milestones (whole, non-decreasing event indices) and their values (each passed through
    ``check_value``) of a list of ``(event_index, value)`` pairs; ``example`` is shown in the errors."""
    milestones: list[int] = []
    values: list[ValueT] = []
    for pair in milestones_values:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"milestones_values must hold (event_index, value) pairs, got {pair!r}. Pass e.g. {example}."
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
        values.append(check_value("A milestone's value", value))
    return milestones, values


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {name}={value!r} ({type(value).__name__}).")
    return value


def _record_value(engine: Engine, name: str, value: Any) -> None:
    """Append ``value`` to ``engine.state.param_history[name]`` (created on first use)."""
    history: dict[str, list[Any]] | None = getattr(engine.state, "param_history", None)
    if history is None:
        history = {}
        setattr(engine.state, "param_history", history)  # noqa: B010 - a user attribute of State
    history.setdefault(name, []).append(value)


def _record_history(engine: Engine | None, name: str, groups: Sequence[Mapping[str, Any]], param_name: str) -> None:
    """Append the groups' current values to ``engine.state.param_history[name]``."""
    if engine is not None:
        _record_value(engine, name, [group[param_name] for group in groups])


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

        >>> from ember.handlers.param_scheduler import LinearCyclicalScheduler
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
