"""ignite's decorators for metrics that keep state in attributes: reinit__is_reduced and sync_all_reduce.

The names are re-exported by :mod:`ember.metrics.metric` (ignite's path).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from ember import distributed

__all__ = ["reinit__is_reduced", "sync_all_reduce"]

_FunctionT = TypeVar("_FunctionT", bound=Callable[..., Any])


def reinit__is_reduced(method: _FunctionT) -> _FunctionT:
    """Decorator for a metric's ``reset`` and ``update`` (ignite's protocol): the state is local again.

    After the decorated method runs, the metric's ``_is_reduced`` flag is False: its attributes hold
    this rank's values, not values combined across ranks (see :func:`sync_all_reduce`).
    """

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self._is_reduced = False
        return result

    return wrapper  # type: ignore[return-value]


# ignite's operation names, mapped onto ember.distributed.all_reduce; AND/OR act on 0/1 values.
_SYNC_OPS = {"SUM": "sum", "PRODUCT": "product", "MIN": "min", "MAX": "max", "AND": "min", "OR": "max"}


def _parse_sync_attribute(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not spec:
        raise TypeError(
            f"sync_all_reduce takes attribute names such as '_num_correct' or '_num_correct:SUM', got {spec!r}."
        )
    name, _, op = spec.partition(":")
    op = op or "SUM"
    if op not in _SYNC_OPS:
        raise ValueError(
            f"sync_all_reduce got {spec!r}, whose operation {op!r} is not one of {sorted(_SYNC_OPS)}. "
            f"Write e.g. '{name}:SUM'."
        )
    return name, _SYNC_OPS[op]


def _reduce_value(owner: str, name: str, value: Any, op: str) -> Any:
    if isinstance(value, torch.Tensor):
        return distributed.all_reduce(value, op=op)
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        reduced = distributed.all_reduce(torch.tensor(value, dtype=torch.float64), op=op).item()
        return int(reduced) if isinstance(value, numbers.Integral) else reduced
    raise TypeError(
        f"sync_all_reduce on {owner} can combine tensors and numbers, but attribute {name!r} is a "
        f"{type(value).__name__}. Keep the state to reduce in a tensor or a number."
    )


def sync_all_reduce(*attributes: str) -> Callable[[_FunctionT], _FunctionT]:
    """Decorator for a metric's ``compute`` (ignite's protocol): combine attributes across ranks first.

    Each argument names an attribute, optionally with the operation that combines it across the
    ranks: ``"_num_examples"`` (a sum), ``"_num_correct:SUM"``, ``":PRODUCT"``, ``":MIN"``,
    ``":MAX"``, ``":AND"``, ``":OR"``. Under ``torch.distributed`` the attributes hold the combined
    values while ``compute`` runs, and their local values again afterwards, so ``compute`` may be
    called repeatedly; every rank must call it (it is a collective). With one process nothing is
    communicated.
    """
    parsed = [_parse_sync_attribute(spec) for spec in attributes]

    def decorator(compute: _FunctionT) -> _FunctionT:
        @functools.wraps(compute)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if distributed.get_world_size() == 1 or not parsed:
                return compute(self, *args, **kwargs)
            local: dict[str, Any] = {}
            for name, op in parsed:
                if not hasattr(self, name):
                    raise ValueError(
                        f"sync_all_reduce on {type(self).__name__}.compute names attribute {name!r}, which the "
                        "metric does not have. Set it in reset(), or fix the name in the decorator."
                    )
                local[name] = getattr(self, name)
                setattr(self, name, _reduce_value(type(self).__name__, name, local[name], op))
            self._is_reduced = True
            try:
                return compute(self, *args, **kwargs)
            finally:
                for name, value in local.items():
                    setattr(self, name, value)

        return wrapper  # type: ignore[return-value]

    return decorator
