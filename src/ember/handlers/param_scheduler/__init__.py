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
- :class:`BatchSizeScheduler`: the batch size of a DataLoader, from a function of the event count.

Where PyTorch has the schedule (``LRScheduler``, ``ReduceLROnPlateauScheduler``), the handler
drives PyTorch's scheduler rather than computing it again. With ``save_history=True`` each
event appends the param groups' values to ``engine.state.param_history[name]``.
"""

from ember.handlers.param_scheduler._base import BaseParamScheduler, ParamScheduler
from ember.handlers.param_scheduler._batch_size import BatchSizeScheduler
from ember.handlers.param_scheduler._composite import ConcatScheduler, ParamGroupScheduler
from ember.handlers.param_scheduler._cyclical import (
    CosineAnnealingScheduler,
    CyclicalScheduler,
    LinearCyclicalScheduler,
    PiecewiseLinear,
)
from ember.handlers.param_scheduler._torch import LRScheduler, ReduceLROnPlateauScheduler
from ember.handlers.param_scheduler._warmup import create_lr_scheduler_with_warmup

__all__ = [
    "BaseParamScheduler",
    "BatchSizeScheduler",
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
