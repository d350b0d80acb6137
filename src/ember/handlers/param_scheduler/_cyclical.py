"""Schedules computed from the event count: piecewise linear, linear cycles, cosine annealing."""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from torch.optim import Optimizer

from ember.engine import Engine
from ember.handlers.param_scheduler._base import ParamScheduler, _check_bool, _check_number, _milestone_pairs


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
        milestones, values = _milestone_pairs(milestones_values, _check_number, "[(0, 0.0), (100, 0.1)]")
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
        if self.cycle_mult <= 0 or int(self.cycle_size * self.cycle_mult) < 1:
            # the next cycle would have no event (ignite divides by its size: a ZeroDivisionError mid-run)
            raise ValueError(
                f"cycle_mult={cycle_mult!r} makes the second cycle {int(cycle_size * self.cycle_mult)} events long "
                f"(cycle_size={cycle_size} times cycle_mult, rounded down). Pass cycle_mult=1.0 for cycles of equal "
                "length, > 1 for longer ones, or a value < 1 that keeps at least one event per cycle."
            )
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
            shrunk = int(self.cycle_size * self.cycle_mult)
            if shrunk < 1:
                raise ValueError(
                    f"cycle_mult={self.cycle_mult!r} shrank cycle {self.cycle + 1} of {type(self).__name__} to "
                    f"{shrunk} events ({self.cycle_size} times cycle_mult, rounded down), so the schedule has no value "
                    "for it. Use a cycle_mult closer to 1, or a larger cycle_size, for this many cycles."
                )
            self.cycle_size = shrunk
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
