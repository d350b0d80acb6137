"""Checking the objects of ``to_save`` / ``to_load`` and moving their state in and out of a checkpoint.

A value of ``to_save`` is an object with ``state_dict()`` (``to_load``: with ``load_state_dict()``),
or a dict or list of such objects, nested as deep as needed; keys are strings. A ``DataParallel`` /
``DistributedDataParallel`` model is saved and loaded as its inner module, so its keys carry no
``module.`` prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ember import distributed
from ember.handlers.checkpoint.format import _load_shared, _verify

__all__ = ["load_objects"]

_PARALLEL_WRAPPERS = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)


def _unwrap(target: Any) -> Any:
    """The model inside a ``DataParallel``/``DistributedDataParallel``, so its keys carry no ``module.`` prefix."""
    return target.module if isinstance(target, _PARALLEL_WRAPPERS) else target


def _check_objects(objects: Any, method: str, where: str) -> None:
    """Every leaf of ``objects`` (nested dicts and lists allowed) has ``method``; keys are strings."""
    if callable(getattr(objects, method, None)):
        return
    if isinstance(objects, Mapping):
        for key, value in objects.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} keys must be strings, got {key!r} ({type(key).__name__}).")
            _check_objects(value, method, f"{where}[{key!r}]")
        return
    if isinstance(objects, (list, tuple)):
        for index, value in enumerate(objects):
            _check_objects(value, method, f"{where}[{index}]")
        return
    raise TypeError(
        f"{where} is a {type(objects).__name__}, which has no {method}() method. Pass objects with state_dict() "
        "and load_state_dict() (a model, an optimizer, the engine, a metric ...), or dicts and lists of them."
    )


def _check_to_save(to_save: Any, needs_load: bool = False) -> None:
    name = "to_load" if needs_load else "to_save"
    if not isinstance(to_save, Mapping):
        raise TypeError(
            f"{name} must be a dict of name -> object with state_dict(), got {type(to_save).__name__}. "
            f"Pass e.g. {{'model': model, 'optimizer': optimizer, 'trainer': trainer}}."
        )
    _check_objects(to_save, "load_state_dict" if needs_load else "state_dict", name)


def _state_dicts(objects: Any) -> Any:
    """The state dicts of ``objects``, in the same nesting of dicts and lists."""
    if callable(getattr(objects, "state_dict", None)):
        return _unwrap(objects).state_dict()
    if isinstance(objects, Mapping):
        return {key: _state_dicts(value) for key, value in objects.items()}
    return [_state_dicts(value) for value in objects]


def _tensor_shapes(value: Any, path: str, out: dict[str, tuple[int, ...]]) -> None:
    if isinstance(value, torch.Tensor):
        out[path] = tuple(value.shape)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _tensor_shapes(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _tensor_shapes(item, f"{path}[{index}]", out)


def _load_into(target: Any, saved: Any, where: str, strict: bool, module_kwargs: Mapping[str, Any]) -> None:
    """Load ``saved`` into ``target`` (an object, or dicts and lists of objects); ``where`` names it in errors."""
    if callable(getattr(target, "load_state_dict", None)):
        target = _unwrap(target)
        if isinstance(target, torch.nn.Module):
            current: dict[str, tuple[int, ...]] = {}
            incoming: dict[str, tuple[int, ...]] = {}
            _tensor_shapes(target.state_dict(), "", current)
            _tensor_shapes(saved, "", incoming)
            for path, shape in incoming.items():
                if path in current and current[path] != shape:
                    raise ValueError(
                        f"Tensor {where}.{path} has shape {list(shape)} in the checkpoint but {list(current[path])} "
                        f"in {where}. Load a checkpoint of the same model configuration."
                    )
            target.load_state_dict(saved, strict=strict, **module_kwargs)
        else:
            target.load_state_dict(saved)
        return
    if isinstance(target, Mapping):
        if not isinstance(saved, Mapping):
            raise ValueError(
                f"{where} is a dict of objects but the checkpoint holds a {type(saved).__name__} there. "
                "Load with the same nesting as to_save had."
            )
        missing = sorted(set(target) - set(saved))
        if missing:
            unexpected = sorted(set(saved) - set(target))
            raise ValueError(
                f"The checkpoint misses keys of {where}: missing {missing}, unexpected {unexpected}. "
                "Use the same names in to_load as in to_save."
            )
        for key, value in target.items():
            _load_into(value, saved[key], f"{where}[{key!r}]" if where != "to_load" else key, strict, module_kwargs)
        return
    if not isinstance(saved, (list, tuple)) or len(saved) != len(target):
        raise ValueError(
            f"{where} is a list of {len(target)} objects but the checkpoint holds "
            f"{f'a list of {len(saved)}' if isinstance(saved, (list, tuple)) else f'a {type(saved).__name__}'} there. "
            "Load with the same nesting as to_save had."
        )
    for index, (value, item) in enumerate(zip(target, saved)):
        _load_into(value, item, f"{where}[{index}]", strict, module_kwargs)


def load_objects(
    to_load: Mapping[str, Any],
    checkpoint: Mapping[str, Any] | str | os.PathLike[str],
    *,
    strict: bool = True,
    weights_only: bool = True,
    **kwargs: Any,
) -> None:
    """Restore every object of ``to_load`` from ``checkpoint``: what :meth:`Checkpoint.load_objects` does."""
    _check_to_save(to_load, needs_load=True)
    if isinstance(checkpoint, (str, os.PathLike)):
        path = Path(checkpoint)
        checkpoint = _load_shared(path, distributed.decide_on_rank(lambda: _verify(path)), weights_only)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"checkpoint must be a dict or a file path, got {type(checkpoint).__name__}.")
    if len(to_load) == 1:
        key, target = next(iter(to_load.items()))
        if key not in checkpoint:  # the bare state dict of a single object
            _load_into(target, checkpoint, key, strict, kwargs)
            return
    _load_into(to_load, checkpoint, "to_load", strict, kwargs)
