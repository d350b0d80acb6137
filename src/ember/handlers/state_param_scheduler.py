"""Schedules for a value kept on ``engine.state`` (not in an optimizer): ignite's state parameter schedulers.

A state scheduler counts the events it is attached to (``ITERATION_COMPLETED`` by default) and, at
each one, stores the schedule's value for that count in ``engine.state.<param_name>``, where any
handler or the process function can read it (a loss weight, a dropout rate, a temperature ...).
The count starts at 1 for the first event, so the value at event ``n`` is the schedule at ``n``:

- :class:`LambdaStateScheduler`: ``lambda_obj(n)``.
- :class:`PiecewiseLinearStateScheduler`: linear between ``(n, value)`` milestones, constant outside.
- :class:`ExpStateScheduler`: ``initial_value * gamma ** n``.
- :class:`StepStateScheduler`: ``initial_value * gamma ** (n // step_size)``.
- :class:`MultiStepStateScheduler`: ``initial_value * gamma ** (number of milestones <= n)``.

With ``save_history=True`` each value is appended to ``engine.state.param_history[param_name]``.
"""

from __future__ import annotations

import numbers
import warnings
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach
from ember.handlers.param_scheduler import BaseParamScheduler
from ember.handlers.param_scheduler._base import (
    _check_bool,
    _milestone_pairs,
    _record_value,
    _refuse_second_registration,
)

__all__ = [
    "ExpStateScheduler",
    "LambdaStateScheduler",
    "MultiStepStateScheduler",
    "PiecewiseLinearStateScheduler",
    "StateParamScheduler",
    "StepStateScheduler",
]


def _real(name: str, value: Any) -> Any:
    """``value`` unchanged (an int stays an int, as in ignite) once checked to be a real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {name}={value!r} ({type(value).__name__}).")
    return value


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {name}={value!r}.")
    return int(value)


class StateParamScheduler(BaseParamScheduler):
    """The base of the state schedulers: sets ``engine.state.<param_name>`` to :meth:`get_param` at each event.

    Args:
        param_name: the ``engine.state`` attribute to set.
        save_history: append each value to ``engine.state.param_history[param_name]``.
        create_new: ``True`` when the scheduler creates the attribute: attaching then refuses an
            engine whose state already has it (two handlers would fight over it). ``False`` (the
            default) sets an existing attribute, and creates a missing one with a warning.

    A subclass gives :meth:`get_param`, the value at ``event_index`` (1 at the first event).
    """

    def __init__(self, param_name: str, save_history: bool = False, create_new: bool = False) -> None:
        super().__init__(param_name, save_history)
        if not param_name.isidentifier():
            raise ValueError(
                f"param_name must be a valid attribute name of engine.state, got {param_name!r}. "
                "Pass e.g. param_name='loss_weight'."
            )
        self.create_new = _check_bool("create_new", create_new)

    def attach(self, engine: Engine, event: Any = Events.ITERATION_COMPLETED) -> None:
        """Set ``engine.state.<param_name>`` whenever ``event`` fires (default: after each iteration).

        The attribute exists from now on (``None`` until the first event).

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            ValueError: ``create_new=True`` and ``engine.state`` already has ``param_name``.
            RuntimeError: the scheduler is already attached to ``engine``.
        """
        check_attach(
            type(self).__name__,
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="advance the schedule twice per event",
            fix="Attach it once.",
        )
        if hasattr(engine.state, self.param_name):
            if self.create_new:
                raise ValueError(
                    f"engine.state already has an attribute {self.param_name!r}, and {type(self).__name__} was told "
                    "to create it (create_new=True): another handler may own it. Pick another param_name, or pass "
                    "create_new=False to take the attribute over."
                )
        else:
            if not self.create_new:
                warnings.warn(
                    f"engine.state has no attribute {self.param_name!r}; {type(self).__name__} creates it. Pass "
                    "create_new=True to say that this is intended (and silence this warning).",
                    UserWarning,
                    stacklevel=2,
                )
            setattr(engine.state, self.param_name, None)
        if self.save_history:
            history = getattr(engine.state, "param_history", None)
            if history is None:
                history = {}
                setattr(engine.state, "param_history", history)  # noqa: B010 - a user attribute of State
            history.setdefault(self.param_name, [])
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine) -> None:
        """Count the event, then store the schedule's value in ``engine.state`` (and its history)."""
        _refuse_second_registration(self, engine)
        self.event_index += 1
        value = self.get_param()
        setattr(engine.state, self.param_name, value)
        if self.save_history:
            _record_value(engine, self.param_name, value)

    @classmethod
    def simulate_values(cls, num_events: int, **scheduler_kwargs: Any) -> list[list[Any]]:
        """``[[i, value], ...]``: the value stored at each of ``num_events`` events (``i`` from 0).

        >>> ExpStateScheduler.simulate_values(3, param_name="temperature", initial_value=1.0, gamma=0.5)
        [[0, 0.5], [1, 0.25], [2, 0.125]]
        """
        _whole("num_events", num_events, 0)
        kwargs = {key: value for key, value in scheduler_kwargs.items() if key != "save_history"}
        scheduler = cls(save_history=False, **kwargs)
        engine = Engine(lambda engine, batch: None)
        values: list[list[Any]] = []
        for index in range(num_events):
            scheduler(engine)
            values.append([index, getattr(engine.state, scheduler.param_name)])
        return values


class LambdaStateScheduler(StateParamScheduler):
    """``engine.state.<param_name> = lambda_obj(event_index)`` at each event.

    Args:
        lambda_obj: a callable taking the event count (1, 2, ...) and returning the value.
        param_name, save_history, create_new: see :class:`StateParamScheduler`.

    >>> from ember.engine import Engine, Events
    >>> trainer = Engine(lambda engine, batch: None)
    >>> LambdaStateScheduler(lambda n: 0.5 ** n, "weight", create_new=True).attach(trainer, Events.EPOCH_COMPLETED)
    >>> trainer.run([0], max_epochs=3).weight
    0.125
    """

    def __init__(
        self,
        lambda_obj: Callable[[int], Any],
        param_name: str,
        save_history: bool = False,
        create_new: bool = False,
    ) -> None:
        super().__init__(param_name, save_history, create_new)
        if not callable(lambda_obj):
            raise TypeError(
                f"lambda_obj must be callable as lambda_obj(event_index) -> value, got {lambda_obj!r} "
                f"({type(lambda_obj).__name__}). Pass e.g. lambda_obj=lambda n: 0.9 ** n."
            )
        self.lambda_obj = lambda_obj
        self._state_attrs += ["lambda_obj"]

    def get_param(self) -> Any:
        """``lambda_obj(event_index)``."""
        return self.lambda_obj(self.event_index)


class PiecewiseLinearStateScheduler(StateParamScheduler):
    """Linear between milestones ``[(event_index, value), ...]``, constant before the first and after the last.

    Args:
        milestones_values: ``(event_index, value)`` pairs with non-decreasing event indices.
        param_name, save_history, create_new: see :class:`StateParamScheduler`.

    >>> values = PiecewiseLinearStateScheduler.simulate_values(
    ...     5, param_name="p", milestones_values=[(2, 1.0), (4, 0.0)], create_new=True
    ... )
    >>> [value for _, value in values]
    [1.0, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(
        self,
        milestones_values: Sequence[tuple[int, float]],
        param_name: str,
        save_history: bool = False,
        create_new: bool = False,
    ) -> None:
        super().__init__(param_name, save_history, create_new)
        if isinstance(milestones_values, str) or not isinstance(milestones_values, Sequence):
            raise TypeError(
                f"milestones_values must be a list of (event_index, value) pairs, got "
                f"{type(milestones_values).__name__}. Pass e.g. [(0, 1.0), (100, 0.0)]."
            )
        if not milestones_values:
            raise ValueError("milestones_values is empty. Give at least one (event_index, value) pair.")
        milestones, values = _milestone_pairs(milestones_values, _real, "[(0, 1.0), (100, 0.0)]")
        self.milestones = milestones
        self.values = values
        #: the segment of the last value (ignite's state-dict key; kept so state dicts load both ways)
        self._index = 0
        self._state_attrs += ["values", "milestones", "_index"]

    def get_param(self) -> Any:
        """The value at ``event_index``: interpolated between the milestones around it."""
        index, milestones, values = self.event_index, self.milestones, self.values
        # "+ 0.0": a value is a float even where it is constant (integer milestone values too), as ignite's
        if index < milestones[0]:
            return values[0] + 0.0
        if index >= milestones[-1]:
            return values[-1] + 0.0
        right = bisect_right(milestones, index)  # milestones[right - 1] <= index < milestones[right]
        self._index = right - 1
        start, end = milestones[right - 1], milestones[right]
        return values[right - 1] + (values[right] - values[right - 1]) * (index - start) / (end - start)


class ExpStateScheduler(StateParamScheduler):
    """``initial_value * gamma ** event_index`` at each event (the closed form of torch's ``ExponentialLR``).

    Args:
        initial_value: the value before any event.
        gamma: the factor applied at each event.
        param_name, save_history, create_new: see :class:`StateParamScheduler`.

    >>> [value for _, value in ExpStateScheduler.simulate_values(3, param_name="p", initial_value=8, gamma=0.5)]
    [4.0, 2.0, 1.0]
    """

    def __init__(
        self, initial_value: float, gamma: float, param_name: str, save_history: bool = False, create_new: bool = False
    ) -> None:
        super().__init__(param_name, save_history, create_new)
        self.initial_value = _real("initial_value", initial_value)
        self.gamma = _real("gamma", gamma)
        self._state_attrs += ["initial_value", "gamma"]

    def get_param(self) -> Any:
        """``initial_value * gamma ** event_index``."""
        return self.initial_value * self.gamma**self.event_index


class StepStateScheduler(StateParamScheduler):
    """``initial_value * gamma ** (event_index // step_size)``: a factor every ``step_size`` events (``StepLR``).

    Args:
        initial_value: the value before the first step.
        gamma: the factor applied every ``step_size`` events.
        step_size: events between two steps (>= 1).
        param_name, save_history, create_new: see :class:`StateParamScheduler`.

    >>> values = StepStateScheduler.simulate_values(5, param_name="p", initial_value=1.0, gamma=0.5, step_size=2)
    >>> [value for _, value in values]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(
        self,
        initial_value: float,
        gamma: float,
        step_size: int,
        param_name: str,
        save_history: bool = False,
        create_new: bool = False,
    ) -> None:
        super().__init__(param_name, save_history, create_new)
        self.initial_value = _real("initial_value", initial_value)
        self.gamma = _real("gamma", gamma)
        self.step_size = _whole("step_size", step_size, 1)
        self._state_attrs += ["initial_value", "gamma", "step_size"]

    def get_param(self) -> Any:
        """``initial_value * gamma ** (event_index // step_size)``."""
        return self.initial_value * self.gamma ** (self.event_index // self.step_size)


class MultiStepStateScheduler(StateParamScheduler):
    """``initial_value * gamma ** k``, ``k`` the number of milestones reached (torch's ``MultiStepLR``).

    Args:
        initial_value: the value before the first milestone.
        gamma: the factor applied at each milestone.
        milestones: increasing event counts at which the factor applies.
        param_name, save_history, create_new: see :class:`StateParamScheduler`.

    >>> values = MultiStepStateScheduler.simulate_values(
    ...     5, param_name="p", initial_value=1.0, gamma=0.1, milestones=[2, 4]
    ... )
    >>> [round(value, 6) for _, value in values]
    [1.0, 0.1, 0.1, 0.01, 0.01]
    """

    def __init__(
        self,
        initial_value: float,
        gamma: float,
        milestones: list[int],
        param_name: str,
        save_history: bool = False,
        create_new: bool = False,
    ) -> None:
        super().__init__(param_name, save_history, create_new)
        if isinstance(milestones, str) or not isinstance(milestones, Sequence) or not milestones:
            raise ValueError(f"milestones must be a non-empty list of event counts, got {milestones!r}.")
        for index, milestone in enumerate(milestones):
            _whole(f"milestones[{index}]", milestone, 0)
            if index and milestone <= milestones[index - 1]:
                raise ValueError(f"milestones must be increasing, got {list(milestones)}. Sort them.")
        self.initial_value = _real("initial_value", initial_value)
        self.gamma = _real("gamma", gamma)
        self.milestones = list(milestones)
        self._state_attrs += ["initial_value", "gamma", "milestones"]

    def get_param(self) -> Any:
        """``initial_value * gamma ** (number of milestones <= event_index)``."""
        return self.initial_value * self.gamma ** bisect_right(self.milestones, self.event_index)
