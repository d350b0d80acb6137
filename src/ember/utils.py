"""Small helpers shared across ember: walking nested batches and outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

__all__ = ["apply_to_tensors", "iter_tensors"]


def apply_to_tensors(value: Any, function: Callable[[torch.Tensor], Any]) -> Any:
    """Return ``value`` with ``function`` applied to every tensor in it.

    Walks tuples, lists, dicts (any mapping becomes a dict of the same keys) and namedtuples,
    rebuilding each container; anything else is returned unchanged.

    >>> apply_to_tensors({"x": torch.ones(2), "n": 3}, lambda t: t * 2)
    {'x': tensor([2., 2.]), 'n': 3}
    """
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(apply_to_tensors(item, function) for item in value))
    if isinstance(value, (tuple, list)):
        return type(value)(apply_to_tensors(item, function) for item in value)
    if isinstance(value, Mapping):
        return {key: apply_to_tensors(item, function) for key, item in value.items()}
    return value


def iter_tensors(value: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(path, tensor)`` for every tensor nested in ``value``; the path says where it is.

    >>> [path for path, _ in iter_tensors({"a": [torch.zeros(1), torch.ones(1)]})]
    ["['a'][0]", "['a'][1]"]
    """
    yield from _iter_tensors(value, "")


def _iter_tensors(value: Any, path: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _iter_tensors(item, f"{path}[{index}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _iter_tensors(item, f"{path}[{key!r}]")
