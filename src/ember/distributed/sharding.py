"""Models larger than one device: shard parameters, gradients and optimizer state across ranks with FSDP2.

:func:`shard_model` applies PyTorch's ``torch.distributed.fsdp.fully_shard`` to the blocks of a model
and to the model itself, on a one-dimensional device mesh over every rank of the process group. Each
rank then holds ``1 / world_size`` of every parameter (a ``DTensor``); a block's full parameters exist
only while its forward and backward run. The model keeps its class and its ``state_dict`` keys, so an
optimizer, a loss, ember's supervised trainer and its metrics use it as they use a plain model.

Checkpoint a sharded model with :class:`ember.handlers.sharded_checkpoint.ShardedSaver`: each rank
writes its own shard, and the checkpoint loads on any number of ranks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from torch import nn

from ember._torch_version import FSDP2_TORCH, require_torch
from ember.distributed.auto import register_model_strategy
from ember.distributed.process import device, get_backend, get_world_size

__all__ = ["default_wrap_modules", "gradient_sync", "is_sharded", "shard_model"]

# Containers only hold modules; their children do the work (a ModuleList has no forward of its own).
_CONTAINERS = (nn.ModuleList, nn.ModuleDict)
# Whole layers of PyTorch's own transformer: the usual unit of sharding when a model has them.
_TRANSFORMER_BLOCKS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def _holds_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def default_wrap_modules(model: nn.Module) -> list[nn.Module]:
    """The submodules :func:`shard_model` shards one by one when no ``wrap_classes`` are given.

    The transformer layers (``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``) if the
    model has any; otherwise each child of the model that holds parameters, looking through
    ``nn.ModuleList`` / ``nn.ModuleDict`` containers to their children (a container has no forward of
    its own, so it cannot gather its parameters itself). The model itself is never in the list: it is
    sharded last, and holds whatever parameters its blocks do not.

    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> [type(block).__name__ for block in default_wrap_modules(model)]
    ['Linear', 'Linear']
    """
    blocks: list[nn.Module] = [module for module in model.modules() if isinstance(module, _TRANSFORMER_BLOCKS)]
    if blocks:
        return blocks
    found: list[nn.Module] = []
    pending = list(model.children())
    while pending:
        child = pending.pop(0)
        if isinstance(child, _CONTAINERS):
            pending[:0] = list(child.children())
        elif _holds_parameters(child):
            found.append(child)
    return found


def _check_wrap_classes(wrap_classes: Any) -> tuple[type[nn.Module], ...]:
    classes = (wrap_classes,) if isinstance(wrap_classes, type) else wrap_classes
    if not isinstance(classes, Iterable) or isinstance(classes, (str, bytes)):
        raise TypeError(
            f"wrap_classes must be a module class or a collection of them, got {type(wrap_classes).__name__}. "
            "Pass e.g. wrap_classes={MyTransformerBlock}."
        )
    classes = tuple(classes)
    wrong = [item for item in classes if not (isinstance(item, type) and issubclass(item, nn.Module))]
    if wrong or not classes:
        raise TypeError(
            f"wrap_classes must hold subclasses of torch.nn.Module, got {wrong or 'nothing'}. "
            "Pass the classes of the blocks to shard one by one, e.g. wrap_classes={MyTransformerBlock}."
        )
    return classes


def _device_type() -> str:
    return "cuda" if get_backend() == "nccl" else "cpu"


def shard_model(
    model: nn.Module,
    *,
    mesh: Any = None,
    wrap_classes: Any = None,
    mp_policy: Any = None,
    offload_policy: Any = None,
    reshard_after_forward: bool = True,
) -> nn.Module:
    """Shard ``model`` across the ranks with FSDP2 (``fully_shard``) and return it (the same object).

    Every submodule of one of ``wrap_classes`` (default: :func:`default_wrap_modules`) is sharded as
    a unit, then the model itself. Only a unit's parameters are gathered at a time, so peak memory
    per rank is about the sharded model plus the largest unit. Call it before building the
    optimizer, which must see the sharded parameters.

    Args:
        model: the model, on the device this rank trains on (``ember.distributed`` picks the GPU of
            ``LOCAL_RANK`` under NCCL; on CPU with gloo it stays on the CPU).
        mesh: a 1-D ``DeviceMesh`` to shard over; by default one over all ranks of the process group
            (``init_device_mesh("cuda" or "cpu", (world_size,))``).
        wrap_classes: the module class(es) whose instances are sharded one by one.
        mp_policy: a ``torch.distributed.fsdp.MixedPrecisionPolicy`` (e.g. bf16 parameters for the
            compute, fp32 gradient reduction); None computes in the parameters' dtype.
        offload_policy: a ``torch.distributed.fsdp.CPUOffloadPolicy`` to keep the sharded parameters
            and optimizer state in CPU memory; None keeps them on the device.
        reshard_after_forward: free each unit's gathered parameters after its forward (least
            memory; gathered again for the backward). ``False`` keeps them until the backward.

    With a single process (no process group, or one of size 1) and no ``mesh`` there is nothing to
    shard over: a warning says so and the model is returned unchanged, so the same script runs on
    one process and on many.

    Raises:
        RuntimeError: this torch is older than 2.9 (the first whose FSDP2 ember's tests pass on).
        TypeError: ``model`` is not a ``torch.nn.Module``, or ``wrap_classes`` holds something that
            is not a module class.
        ValueError: none of the model's submodules is of one of ``wrap_classes``, or the model is
            sharded already.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = shard_model(nn.Linear(2, 2))
    >>> type(model).__name__, "left unsharded" in str(caught[0].message)
    ('Linear', True)
    """
    return _shard(model, mesh, wrap_classes, mp_policy, offload_policy, reshard_after_forward, stacklevel=3)


def _shard(
    model: Any,
    mesh: Any,
    wrap_classes: Any,
    mp_policy: Any,
    offload_policy: Any,
    reshard_after_forward: bool,
    stacklevel: int,
) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"shard_model takes a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(reshard_after_forward, bool):
        raise TypeError(f"reshard_after_forward must be True or False, got {reshard_after_forward!r}.")
    require_torch(FSDP2_TORCH, "Sharding a model with FSDP2 (shard_model, auto_model(strategy='fsdp'))")
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, OffloadPolicy, fully_shard

    if isinstance(model, FSDPModule):
        raise ValueError(
            f"The model ({type(model).__name__}) is sharded already: shard_model was applied to it before. "
            "Shard a model once, before building its optimizer."
        )
    classes = None if wrap_classes is None else _check_wrap_classes(wrap_classes)
    if mp_policy is not None and not isinstance(mp_policy, MixedPrecisionPolicy):
        raise TypeError(
            f"mp_policy must be a torch.distributed.fsdp.MixedPrecisionPolicy or None, got {type(mp_policy).__name__}."
        )
    if offload_policy is not None and not isinstance(offload_policy, OffloadPolicy):
        raise TypeError(
            "offload_policy must be a torch.distributed.fsdp.CPUOffloadPolicy (or OffloadPolicy) or None, got "
            f"{type(offload_policy).__name__}."
        )
    # the units are chosen before the single-process shortcut, so a wrong wrap_classes fails on one process too
    if classes is None:
        units = default_wrap_modules(model)
    else:
        units = [module for module in model.modules() if module is not model and isinstance(module, classes)]
        if not units:
            present = sorted({type(module).__name__ for module in model.modules()})
            raise ValueError(
                f"None of the model's submodules is a {' or '.join(c.__name__ for c in classes)}, so wrap_classes "
                f"selects nothing to shard. The model holds {present}; pass some of those classes, or leave "
                "wrap_classes out for the default (each block that holds parameters)."
            )
    if mesh is None and get_world_size() == 1:
        warnings.warn(
            "Sharding (FSDP) was asked for, but this is a single process (no torch.distributed process group of "
            "more than one process): the model is left unsharded and trains as a plain model. Launch with "
            "torchrun --nproc-per-node=N (or ember.distributed.spawn) to shard it across N processes.",
            UserWarning,
            stacklevel=stacklevel,
        )
        return model
    if mesh is None:
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh(_device_type(), (get_world_size(),))
    options: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": reshard_after_forward}
    options["mp_policy"] = mp_policy if mp_policy is not None else MixedPrecisionPolicy()
    options["offload_policy"] = offload_policy if offload_policy is not None else OffloadPolicy()
    # Innermost units first: a unit sharded inside another must exist before its parent is sharded.
    depth = {id(module): name.count(".") for name, module in model.named_modules()}
    for unit in sorted(units, key=lambda module: -depth[id(module)]):
        fully_shard(unit, **options)
    fully_shard(model, **options)
    return model


def is_sharded(model: Any) -> bool:
    """Whether ``model`` was sharded by :func:`shard_model` (``fully_shard``).

    >>> is_sharded(nn.Linear(1, 1))
    False
    """
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # a torch without FSDP2 has no sharded model to recognise
        return False
    return isinstance(model, FSDPModule)


def gradient_sync(model: nn.Module, enabled: bool) -> None:
    """Turn the gradients' reduction across ranks on or off for the coming backward passes.

    For gradient accumulation: switch it off for the micro-batches whose gradients are only
    accumulated, and on again before the last one, whose backward reduces the sum once. On a
    sharded model this is ``set_requires_gradient_sync``. A model that :func:`shard_model` did not
    shard is left alone (one process has nothing to reduce; a ``DistributedDataParallel`` model
    skips its reduction inside its own ``no_sync()`` context instead).

    >>> gradient_sync(nn.Linear(1, 1), False)
    """
    if is_sharded(model):
        model.set_requires_gradient_sync(enabled)  # type: ignore[operator]


def _fully_sharded(
    model: nn.Module,
    sync_bn: bool = False,
    *,
    mesh: Any = None,
    wrap_classes: Any = None,
    mp_policy: Any = None,
    offload_policy: Any = None,
    reshard_after_forward: bool = True,
) -> nn.Module:
    """``auto_model(model, strategy="fsdp", **options)``: to this process's device, then :func:`shard_model`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"auto_model takes a torch.nn.Module, got {type(model).__name__}.")
    model = model.to(device())
    if sync_bn and get_world_size() > 1:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
    return _shard(model, mesh, wrap_classes, mp_policy, offload_policy, reshard_after_forward, stacklevel=4)


register_model_strategy("fsdp", _fully_sharded)
