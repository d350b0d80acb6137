"""A linear warm-up in front of any learning-rate schedule."""

from __future__ import annotations

from typing import Any

import torch  # noqa: F401 - the docstring examples use it
from torch.optim.lr_scheduler import LRScheduler as TorchLRScheduler

from ember.engine import Engine, Events  # noqa: F401 - the docstring example uses them
from ember.handlers.param_scheduler._base import ParamScheduler, _check_number
from ember.handlers.param_scheduler._composite import ConcatScheduler, ParamGroupScheduler
from ember.handlers.param_scheduler._cyclical import PiecewiseLinear
from ember.handlers.param_scheduler._torch import LRScheduler


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
