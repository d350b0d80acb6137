"""Checking the objects of ``to_save`` / ``to_load`` and moving their state in and out of a checkpoint.

A value of ``to_save`` is an object with ``state_dict()`` (``to_load``: with ``load_state_dict()``),
or a dict or list of such objects, nested as deep as needed; keys are strings. A ``DataParallel`` /
``DistributedDataParallel`` model is saved and loaded as its inner module, so its keys carry no
``module.`` prefix.
"""

from __future__ import annotations

import inspect
import os
import warnings
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


def _entry(where: str) -> str:
    """``model[0]`` -> ``to_load['model'][0]``: the name of a ``to_load`` entry as the user wrote it."""
    name, bracket, rest = where.partition("[")
    return f"to_load[{name!r}]" + (bracket + rest if bracket else "")


def _holds(saved: Any, limit: int = 8) -> str:
    """What a checkpoint entry holds, for messages: its keys, each tensor's with its shape."""
    if not isinstance(saved, Mapping):
        return f"a {type(saved).__name__}"
    shown = [
        f"{key!r} {list(value.shape)}" if isinstance(value, torch.Tensor) else repr(key) for key, value in saved.items()
    ]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return f"the keys [{', '.join(shown[:limit])}]{more}"


def _is_optimizer_state(saved: Any) -> bool:
    return isinstance(saved, Mapping) and {"state", "param_groups"} <= set(saved)


def _is_model_state(saved: Any) -> bool:
    return isinstance(saved, Mapping) and bool(saved) and all(isinstance(v, torch.Tensor) for v in saved.values())


def _is_several_objects(saved: Any) -> bool:
    """A checkpoint of several objects: ``{name: state_dict}``, each value a dict."""
    return isinstance(saved, Mapping) and bool(saved) and all(isinstance(v, Mapping) for v in saved.values())


def _hint(saved: Any, where: str, bare: bool, expected: str) -> str:
    """The likely cause of a mismatch between ``saved`` and what ``where`` expects (``expected``: model/optimizer)."""
    if bare and _is_several_objects(saved):
        return (
            f"The checkpoint has no entry {where!r}, so it was read as the bare state dict of one object; it holds "
            f"the entries {sorted(saved)}. Use the name that to_save had, e.g. {{{sorted(saved)[0]!r}: ...}}."
        )
    if expected == "model" and _is_optimizer_state(saved):
        return "It is an optimizer's state dict: are the names in to_load swapped (e.g. 'model' and 'optimizer')?"
    if expected == "optimizer" and _is_model_state(saved):
        return "It is a model's state dict: are the names in to_load swapped (e.g. 'model' and 'optimizer')?"
    return f"It is the state of another {expected}: load a checkpoint of this {expected}'s configuration."


def _check_shapes(target: torch.nn.Module, saved: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``target``'s state dict; a ValueError naming every tensor whose shape differs from the checkpoint's."""
    current = target.state_dict()
    mismatched = [
        f"Tensor {where}.{key} has shape {list(value.shape)} in the checkpoint but {list(current[key].shape)} "
        f"in {where}"
        for key, value in saved.items()
        if isinstance(value, torch.Tensor)
        and isinstance(current.get(key), torch.Tensor)
        and current[key].shape != value.shape
    ]
    if mismatched:
        raise ValueError(
            f"{'; '.join(mismatched)}. {len(mismatched)} tensor{'s differ' if len(mismatched) > 1 else ' differs'} in "
            "shape: load a checkpoint of the same model configuration."
        )
    return current


def _load_module(
    target: torch.nn.Module, saved: Any, where: str, strict: bool, module_kwargs: Mapping[str, Any], bare: bool
) -> None:
    name = f"{_entry(where)} ({type(target).__name__})"
    if not isinstance(saved, Mapping):
        raise TypeError(
            f"{name} is a model, but the checkpoint holds {_holds(saved)} for it, not a state dict. Load with the "
            "same names and nesting as to_save had."
        )
    expected = set(_check_shapes(target, saved, where))
    missing, unexpected = sorted(expected - set(saved)), sorted(set(saved) - expected)
    if strict and (missing or unexpected):
        raise RuntimeError(
            f"{name} does not fit the checkpoint's entry. Missing key(s) in the checkpoint: {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}; the entry holds {_holds(saved)}. "
            f"{_hint(saved, where, bare, 'model')} Pass strict=False to load only the keys both have."
        )
    if not strict and expected and not expected & set(saved):
        warnings.warn(
            f"load_objects(strict=False) loaded nothing into {name}: none of its {len(expected)} keys is in the "
            f"checkpoint's entry, which holds {_holds(saved)}. {_hint(saved, where, bare, 'model')}",
            UserWarning,
            stacklevel=5,
        )
    target.load_state_dict(saved, strict=strict, **module_kwargs)


def _load_optimizer(target: torch.optim.Optimizer, saved: Any, where: str, bare: bool) -> None:
    if not _is_optimizer_state(saved):
        raise ValueError(
            f"{_entry(where)} is an optimizer ({type(target).__name__}), but the checkpoint's entry holds "
            f"{_holds(saved)}, not an optimizer's state dict ('state' and 'param_groups'). "
            f"{_hint(saved, where, bare, 'optimizer')}"
        )
    own = [len(group["params"]) for group in target.param_groups]
    given = [len(group.get("params", ())) for group in saved["param_groups"]]
    if own != given:
        raise ValueError(
            f"{_entry(where)} ({type(target).__name__}) has parameter groups of {own} parameters, but the "
            f"checkpoint's optimizer had {given}: it is the optimizer of another model. Build the optimizer on the "
            "model of the checkpoint's configuration."
        )
    target.load_state_dict(saved)


def _load_into(
    target: Any, saved: Any, where: str, strict: bool, module_kwargs: Mapping[str, Any], bare: bool = False
) -> None:
    """Load ``saved`` into ``target`` (an object, or dicts and lists of objects); ``where`` names it in errors.

    ``bare``: ``saved`` is the whole checkpoint, read as the state dict of ``to_load``'s single object.
    """
    if callable(getattr(target, "load_state_dict", None)):
        target = _unwrap(target)
        if isinstance(target, torch.nn.Module):
            _load_module(target, saved, where, strict, module_kwargs, bare)
        elif isinstance(target, torch.optim.Optimizer):
            _load_optimizer(target, saved, where, bare)
        else:
            target.load_state_dict(saved)
    elif isinstance(target, Mapping):
        _load_mapping(target, saved, where, strict, module_kwargs)
    else:
        _load_sequence(target, saved, where, strict, module_kwargs)


def _load_mapping(
    target: Mapping[str, Any], saved: Any, where: str, strict: bool, module_kwargs: Mapping[str, Any]
) -> None:
    if not isinstance(saved, Mapping):
        raise ValueError(
            f"{where} is a dict of objects but the checkpoint holds a {type(saved).__name__} there. "
            "Load with the same nesting as to_save had."
        )
    missing = sorted(set(target) - set(saved))
    if missing:
        unexpected = sorted(set(saved) - set(target))
        raise ValueError(
            f"The checkpoint misses keys of {where}: missing {missing}, unexpected {unexpected}; it holds the entries "
            f"{sorted(saved)}. Use the same names in to_load as in to_save."
        )
    for key, value in target.items():
        _load_into(value, saved[key], f"{where}[{key!r}]" if where != "to_load" else key, strict, module_kwargs)


def _load_sequence(target: Any, saved: Any, where: str, strict: bool, module_kwargs: Mapping[str, Any]) -> None:
    if not isinstance(saved, (list, tuple)) or len(saved) != len(target):
        raise ValueError(
            f"{where} is a list of {len(target)} objects but the checkpoint holds "
            f"{f'a list of {len(saved)}' if isinstance(saved, (list, tuple)) else f'a {type(saved).__name__}'} there. "
            "Load with the same nesting as to_save had."
        )
    for index, (value, item) in enumerate(zip(target, saved)):
        _load_into(value, item, f"{where}[{index}]", strict, module_kwargs)


_MODULE_LOAD_OPTIONS = frozenset(inspect.signature(torch.nn.Module.load_state_dict).parameters) - {
    "self",
    "state_dict",
    "strict",
}


def load_objects(
    to_load: Mapping[str, Any],
    checkpoint: Mapping[str, Any] | str | os.PathLike[str],
    *,
    strict: bool = True,
    weights_only: bool = True,
    map_location: Any = "cpu",
    **kwargs: Any,
) -> None:
    """Restore every object of ``to_load`` from ``checkpoint``: what :meth:`Checkpoint.load_objects` does."""
    _check_to_save(to_load, needs_load=True)
    unknown = sorted(set(kwargs) - _MODULE_LOAD_OPTIONS)
    if unknown:
        raise TypeError(
            f"load_objects got unknown keyword arguments {unknown}. It takes strict, weights_only, map_location and "
            f"the keywords of torch.nn.Module.load_state_dict ({', '.join(sorted(_MODULE_LOAD_OPTIONS))})."
        )
    if isinstance(checkpoint, (str, os.PathLike)):
        path = Path(checkpoint)
        checked = distributed.decide_on_rank(lambda: _verify(path))
        checkpoint = _load_shared(path, checked, weights_only, map_location)
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"checkpoint must be a dict or a file path, got {type(checkpoint).__name__}.")
    if len(to_load) == 1:
        key, target = next(iter(to_load.items()))
        if key not in checkpoint:  # the bare state dict of a single object
            _load_into(target, checkpoint, key, strict, kwargs, bare=True)
            return
    _load_into(to_load, checkpoint, "to_load", strict, kwargs)
