"""The sharded checkpoint format: a folder per checkpoint, each rank's part written through DCP.

A model sharded by :func:`ember.distributed.sharding.shard_model` never exists whole on one rank, so
it cannot be written as one file by rank 0. A sharded checkpoint (written by
:class:`~ember.handlers.sharded_checkpoint.ShardedSaver`) is a folder holding:

- the models and optimizers, through DCP (``get_state_dict``): each rank writes the part it holds
  (``__<rank>_0.distcp``) and rank 0 writes the index (``.metadata``);
- every other object (the engine, schedulers, :class:`~ember.handlers.RNGStates`, the data loader's
  position ...), small, as one ``torch.save`` file per rank (``objects_rank<r>.pt``: the random
  generators differ between ranks);
- a completion marker (``ember-checkpoint.json``), written last.

This module verifies such folders, loads them (DCP re-shards on load, so a checkpoint written by N
ranks loads on M ranks, also M = 1 with an unsharded model) and converts them to one plain file.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ember import distributed
from ember._atomic import TEMP_SUFFIX, write_atomic
from ember._torch_version import SHARDED_CHECKPOINT_TORCH, require_torch
from ember.handlers.checkpoint.format import CorruptCheckpointError, load_checkpoint
from ember.handlers.checkpoint.objects import load_objects

__all__ = ["MARKER", "dcp_to_torch_save", "load_sharded_checkpoint", "verify_sharded_checkpoint"]

#: Name of the completion marker inside a checkpoint folder; a folder without it is never loaded.
MARKER = "ember-checkpoint.json"
FORMAT = "ember.sharded-checkpoint"
#: What :func:`require_torch` names when this torch's DCP lacks what sharded checkpoints use.
FEATURE = "Saving and loading sharded checkpoints (ShardedSaver, load_sharded_checkpoint, dcp_to_torch_save)"


def _hush_single_process_notice() -> None:
    """Hide DCP's notice that, without a process group, it saves or loads in one process: ember asks exactly that.

    DCP gives it on every such call, and for an asynchronous save from its own background thread,
    which a ``catch_warnings`` block around the call cannot reach; so a filter for that one message
    is put in place (``filterwarnings`` keeps a single copy of it however often it is added).
    """
    # torch < 2.7 words it without "disabled, "
    warnings.filterwarnings("ignore", message=r"torch\.distributed is (disabled, )?unavailable or uninitialized")


def _no_dist(function: Any) -> dict[str, Any]:
    """DCP's ``no_dist`` argument for ``function`` (save, load, async_save), where this torch has it.

    save/load take it from torch 2.7 on, async_save from 2.9. An older DCP works out the same by itself:
    it runs in one process exactly when no process group is initialised, which is when ember passes ``True``.
    """
    if "no_dist" not in inspect.signature(function).parameters:
        return {}
    return {"no_dist": not distributed.is_distributed()}


def _objects_file(rank: int) -> str:
    return f"objects_rank{rank}.pt"


def _owner_of(optimizer: torch.optim.Optimizer, modules: Mapping[str, nn.Module], key: str, what: str) -> nn.Module:
    """The module of ``modules`` whose parameters ``optimizer`` updates (DCP names optimizer state by them)."""
    wanted = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
    for module in modules.values():
        if any(id(parameter) in wanted for parameter in module.parameters()):
            return module
    raise ValueError(
        f"{what}[{key!r}] is an optimizer, but {what} holds no model with the parameters it updates: a sharded "
        f"checkpoint names optimizer state by the model's parameter names. Put the model in {what} as well, e.g. "
        f"{{'model': model, {key!r}: optimizer, ...}}."
    )


def _split(objects: Mapping[str, Any], what: str) -> tuple[dict[str, nn.Module], dict[str, Any], dict[str, Any]]:
    """Sort ``objects`` into models, optimizers (written by DCP) and everything else (small, one file per rank)."""
    if not isinstance(objects, Mapping):
        raise TypeError(
            f"{what} must be a dict of name -> object, got {type(objects).__name__}. Pass e.g. "
            "{'model': model, 'optimizer': optimizer, 'trainer': trainer}."
        )
    modules: dict[str, nn.Module] = {}
    optimizers: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for key, value in objects.items():
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(f"{what} keys must be non-empty strings without dots, got {key!r}.")
        if isinstance(value, nn.Module):
            modules[key] = value
        elif isinstance(value, torch.optim.Optimizer):
            optimizers[key] = value
        else:
            others[key] = value
    return modules, optimizers, others


def _sharded_state(
    modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer], what: str
) -> dict[str, Any]:
    """The DCP state dict of the models and optimizers, as ``{key: state_dict}`` (sharded where they are)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state: dict[str, Any] = {key: get_model_state_dict(module) for key, module in modules.items()}
    for key, optimizer in optimizers.items():
        state[key] = get_optimizer_state_dict(_owner_of(optimizer, modules, key, what), optimizer)
    return state


def _marker(path: Path) -> dict[str, Any]:
    marker = path / MARKER
    try:
        content = json.loads(marker.read_text())
    except FileNotFoundError:
        raise CorruptCheckpointError(
            f"Sharded checkpoint {str(path)!r} has no completion marker ({MARKER}): the save that wrote it did not "
            "finish (a rank was killed, or the disk filled up). Delete the folder and load an older checkpoint "
            "(find_latest_sharded_checkpoint skips such folders)."
        ) from None
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f"Sharded checkpoint {str(path)!r} has an unreadable completion marker ({error}). Delete the folder and "
            "load an older checkpoint."
        ) from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CorruptCheckpointError(
            f"{str(path / MARKER)!r} is not the marker of an ember sharded checkpoint. Pass a folder written by "
            "ShardedSaver."
        )
    return content


def verify_sharded_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that the checkpoint folder ``path`` is complete; return its marker (keys, world size).

    Complete means: the completion marker, DCP's index (``.metadata``), every shard file the index
    names with at least the bytes it names, and each writing rank's file of small objects.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        CorruptCheckpointError: something is missing or cut short (the message says what).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"No sharded checkpoint folder at {str(path)!r}. Pass a folder written by ShardedSaver "
            "(find_latest_sharded_checkpoint(dirname) finds the newest complete one)."
        )
    marker = _marker(path)
    from torch.distributed.checkpoint.filesystem import FileSystemReader

    try:
        metadata = FileSystemReader(str(path)).read_metadata()
    except Exception as error:
        raise CorruptCheckpointError(
            f"Sharded checkpoint {str(path)!r} has no readable DCP index (.metadata): {type(error).__name__}: "
            f"{error}. Delete the folder and load an older checkpoint."
        ) from error
    needed: dict[str, int] = {}
    for info in (metadata.storage_data or {}).values():
        relative = getattr(info, "relative_path", None)
        if relative is not None:
            needed[relative] = max(needed.get(relative, 0), int(info.offset) + int(info.length))
    for relative, size in sorted(needed.items()):
        shard = path / relative
        actual = shard.stat().st_size if shard.is_file() else -1
        if actual < size:
            raise CorruptCheckpointError(
                f"Sharded checkpoint {str(path)!r} is incomplete: its shard {relative!r} "
                f"{'is missing' if actual < 0 else f'has {actual} bytes, fewer than the {size} its index names'}. "
                "Delete the folder and load an older checkpoint."
            )
    for rank in range(int(marker.get("world_size", 1))):
        if marker.get("objects") and not (path / _objects_file(rank)).is_file():
            raise CorruptCheckpointError(
                f"Sharded checkpoint {str(path)!r} is incomplete: rank {rank}'s {_objects_file(rank)} is missing. "
                "Delete the folder and load an older checkpoint."
            )
    return marker


def _flat_keys(state: Any, prefix: str, out: set[str]) -> None:
    if isinstance(state, Mapping):
        for key, value in state.items():
            _flat_keys(value, f"{prefix}.{key}", out)
    else:
        out.add(prefix)


def _check_model_keys(path: Path, key: str, template: Mapping[str, Any], saved_keys: set[str], strict: bool) -> None:
    """Name the parameters that the model and the checkpoint do not share, and say how to fix it."""
    expected: set[str] = set()
    _flat_keys(template, key, expected)
    saved = {name for name in saved_keys if name.startswith(f"{key}.")}
    lacking_in_checkpoint = sorted(name[len(key) + 1 :] for name in expected - saved)
    lacking_in_model = sorted(name[len(key) + 1 :] for name in saved - expected)
    if strict and (lacking_in_checkpoint or lacking_in_model):
        problems = []
        if lacking_in_model:
            problems.append(f"the checkpoint holds {lacking_in_model}, which to_load[{key!r}] lacks")
        if lacking_in_checkpoint:
            problems.append(f"to_load[{key!r}] has {lacking_in_checkpoint}, which the checkpoint lacks")
        raise ValueError(
            f"Sharded checkpoint {str(path)!r} does not fit to_load[{key!r}]: {'; '.join(problems)}. Build the model "
            "with the configuration it was saved with, or pass strict=False to load only the entries both have."
        )


def _check_model_shapes(path: Path, key: str, template: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
    """A ValueError naming every tensor of ``to_load[key]`` whose (whole, unsharded) shape differs from the saved one.

    Every rank reads the same index and decides alike, so every rank raises the same error: no collective
    is left waiting (DCP's own check raises a ``CheckpointException``, a ``BaseException``, naming one key).
    """
    mismatched = []
    for name, value in template.items():
        size = getattr(saved.get(f"{key}.{name}"), "size", None)
        if isinstance(value, torch.Tensor) and size is not None and tuple(size) != tuple(value.shape):
            mismatched.append(f"{name!r}: {list(size)} in the checkpoint, {list(value.shape)} in to_load[{key!r}]")
    if mismatched:
        raise ValueError(
            f"Sharded checkpoint {str(path)!r} does not fit to_load[{key!r}]: {len(mismatched)} tensor"
            f"{'s have' if len(mismatched) > 1 else ' has'} another shape ({'; '.join(mismatched)}). Build the model "
            "with the configuration it was saved with."
        )


def load_sharded_checkpoint(
    to_load: Mapping[str, Any], path: str | os.PathLike[str], *, strict: bool = True, weights_only: bool = True
) -> None:
    """Restore every object of ``to_load`` from the sharded checkpoint folder ``path``.

    Every rank calls it (DCP reads collectively). Models and optimizers are read through DCP, which
    re-shards: the checkpoint may have been written by any number of ranks, and the model may be
    sharded or not. The other objects read this rank's file of small objects (rank 0's when the
    checkpoint was written by fewer ranks).

    Args:
        to_load: name -> object, with the names used in ``to_save``; an optimizer needs its model in
            ``to_load`` too.
        path: a checkpoint folder written by :class:`ShardedSaver`.
        strict: the model and the checkpoint must have the same parameters and buffers; ``False``
            loads those both have and leaves the others as they are.
        weights_only: read the small objects with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError / CorruptCheckpointError: ``path`` holds no complete checkpoint.
        ValueError: a key of ``to_load`` is not in the checkpoint, or a model's parameters differ
            from the checkpoint's: other names, or the same names with other shapes (the message
            names every such tensor, with both shapes), whatever ``strict``.
        RuntimeError: DCP failed to read the folder (its ``CheckpointException``, a
            ``BaseException``, is the cause); or this torch is older than 2.4.
    """
    require_torch(SHARDED_CHECKPOINT_TORCH, FEATURE)
    path = Path(path)
    modules, optimizers, others = _split(to_load, "to_load")
    for key, value in others.items():
        if not callable(getattr(value, "load_state_dict", None)):
            raise TypeError(
                f"to_load[{key!r}] is a {type(value).__name__}, which has no load_state_dict() method. Pass objects "
                "that can be restored (a model, an optimizer, the engine, a scheduler ...)."
            )
    marker = verify_sharded_checkpoint(path)
    sharded_saved, objects_saved = set(marker.get("sharded", [])), set(marker.get("objects", []))
    missing = sorted(key for key in to_load if key not in (objects_saved if key in others else sharded_saved))
    if missing:
        raise ValueError(
            f"Sharded checkpoint {str(path)!r} misses keys of to_load: missing {missing}; it holds "
            f"{sorted(sharded_saved | objects_saved)}. Use the same names in to_load as in to_save."
        )
    from torch.distributed.checkpoint.api import CheckpointException
    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
    from torch.distributed.checkpoint.filesystem import FileSystemReader
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )
    from torch.distributed.checkpoint.state_dict_loader import load

    if modules or optimizers:
        template = _sharded_state(modules, optimizers, "to_load")
        saved_metadata = FileSystemReader(str(path)).read_metadata().state_dict_metadata
        for key in modules:
            _check_model_keys(path, key, template[key], set(saved_metadata), strict)
            _check_model_shapes(path, key, template[key], saved_metadata)
        if not distributed.is_distributed():
            _hush_single_process_notice()
        try:
            load(
                template,
                checkpoint_id=str(path),
                planner=DefaultLoadPlanner(allow_partial_load=not strict),
                **_no_dist(load),
            )
        except CheckpointException as error:  # a BaseException: `except Exception` in user code would miss it
            raise RuntimeError(
                f"Loading the sharded checkpoint {str(path)!r} failed on rank(s) {sorted(error.failures)}: {error}"
            ) from error
        options = StateDictOptions(strict=strict)
        for key, module in modules.items():
            set_model_state_dict(module, template[key], options=options)
        for key, optimizer in optimizers.items():
            owner = _owner_of(optimizer, modules, key, "to_load")
            set_optimizer_state_dict(owner, optimizer, template[key], options=options)
    if others:
        rank = distributed.get_rank()
        objects_path = path / _objects_file(rank if rank < int(marker.get("world_size", 1)) else 0)
        saved_objects = load_checkpoint(objects_path, weights_only=weights_only)
        load_objects(others, saved_objects, strict=strict, weights_only=weights_only)


def dcp_to_torch_save(checkpoint_dir: str | os.PathLike[str], output_file: str | os.PathLike[str]) -> Path:
    """Convert a sharded checkpoint folder into one plain ``torch.save`` file, in a single process.

    The file holds ``{key: state_dict}`` for every object of the checkpoint, with whole (unsharded)
    tensors: models under their keys with plain parameter names, optimizers keyed by parameter name
    (as ``get_optimizer_state_dict`` gives them), and the small objects as rank 0 saved them. It loads
    into a plain model with ``model.load_state_dict(torch.load(output_file)["model"])`` or
    ``Checkpoint.load_objects({"model": model}, output_file)``. The file is written atomically.

    Raises:
        FileNotFoundError / CorruptCheckpointError: ``checkpoint_dir`` holds no complete checkpoint.
        RuntimeError: this torch is older than 2.4.
    """
    require_torch(SHARDED_CHECKPOINT_TORCH, FEATURE)
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save as convert

    source = Path(checkpoint_dir)
    marker = verify_sharded_checkpoint(source)
    output = Path(output_file)
    if output.is_dir():
        raise ValueError(f"output_file {str(output)!r} is a folder. Pass the path of the file to write.")
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.parent / f".{output.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    try:
        convert(str(source), str(scratch))
        state: dict[str, Any] = torch.load(scratch, weights_only=True, map_location="cpu")
    finally:
        scratch.unlink(missing_ok=True)
    if marker.get("objects"):
        state.update(load_checkpoint(source / _objects_file(0)))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(output, [buffer.getbuffer()])
    return output
