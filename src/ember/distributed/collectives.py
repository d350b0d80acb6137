"""Collectives that every rank calls together; with one process they return their input unchanged.

Each function here must be called by all ranks of the group, in the same order: a collective that
only some ranks reach blocks the others forever.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ember.distributed.process import get_backend, get_local_rank, get_world_size

__all__ = ["all_gather", "all_reduce", "barrier", "broadcast_object"]

ObjectT = TypeVar("ObjectT")

_REDUCE_OPS = {
    "sum": dist.ReduceOp.SUM,
    "product": dist.ReduceOp.PRODUCT,
    "min": dist.ReduceOp.MIN,
    "max": dist.ReduceOp.MAX,
}


def _communication_device(tensor: torch.Tensor) -> torch.device:
    """The device a tensor must be on for the backend: NCCL only moves CUDA tensors."""
    if get_backend() == "nccl" and tensor.device.type != "cuda":
        return torch.device("cuda", get_local_rank())
    return tensor.device


def _check_tensor(function: str, tensor: Any) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"{function} takes a torch.Tensor, got {type(tensor).__name__}. "
            "Wrap numbers in a tensor first, e.g. torch.tensor(value)."
        )


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce ``tensor`` element-wise across all ranks and return the result on every rank.

    The input is left unchanged: a new tensor on the input's device is returned. ``op`` is one of
    ``"sum"``, ``"product"``, ``"min"``, ``"max"``. With one process, no collective is called and a
    copy of the input comes back.

    >>> all_reduce(torch.tensor([1, 2]), op="max")
    tensor([1, 2])
    """
    _check_tensor("all_reduce", tensor)
    if op not in _REDUCE_OPS:
        raise ValueError(f"all_reduce op must be one of {sorted(_REDUCE_OPS)}, got op={op!r}. Pass one of those names.")
    if get_world_size() == 1:
        return tensor.clone()
    device = _communication_device(tensor)
    # Booleans are not reducible by every backend; integers are, and sum/min/max keep their meaning.
    work = tensor.detach().to(device=device, dtype=torch.uint8 if tensor.dtype == torch.bool else tensor.dtype)
    work = work.clone() if work.data_ptr() == tensor.data_ptr() else work
    dist.all_reduce(work, op=_REDUCE_OPS[op])
    if tensor.dtype == torch.bool:
        work = work.bool()
    return work.to(tensor.device)


def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along the first dimension, in rank order, on every rank.

    The ranks' tensors may differ in their first dimension (uneven shards); the other dimensions and
    the dtype must match. A 0-dimensional tensor counts as one row. With one process, no collective
    is called and the input (as one row if it is a scalar) comes back.

    >>> all_gather(torch.tensor([3, 4]))
    tensor([3, 4])
    """
    _check_tensor("all_gather", tensor)
    rows = tensor.reshape(1) if tensor.dim() == 0 else tensor
    world_size = get_world_size()
    if world_size == 1:
        return rows.clone()
    device = _communication_device(rows)
    shape = torch.tensor(rows.shape, dtype=torch.int64, device=device)
    dims = torch.tensor([shape.numel()], dtype=torch.int64, device=device)
    all_dims = [torch.empty_like(dims) for _ in range(world_size)]
    dist.all_gather(all_dims, dims)
    if any(int(d.item()) != rows.dim() for d in all_dims):
        raise ValueError(
            f"all_gather needs tensors with the same number of dimensions on every rank, got "
            f"{[int(d.item()) for d in all_dims]} dimensions by rank. Reshape them alike before gathering."
        )
    shapes = [torch.empty_like(shape) for _ in range(world_size)]
    dist.all_gather(shapes, shape)
    shape_lists = [[int(size) for size in s.tolist()] for s in shapes]
    if any(s[1:] != shape_lists[0][1:] for s in shape_lists):
        raise ValueError(
            f"all_gather needs tensors that match in every dimension but the first, got shapes {shape_lists} "
            "by rank. Only the first (batch) dimension may differ between ranks."
        )
    longest = max(s[0] for s in shape_lists)
    # Collectives need equal sizes: pad every shard to the longest, then cut the padding off again.
    padded = torch.zeros((longest, *rows.shape[1:]), dtype=rows.dtype, device=device)
    padded[: rows.shape[0]] = rows.to(device)
    gathered = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: s[0]] for g, s in zip(gathered, shape_lists)]).to(tensor.device)


def broadcast_object(obj: ObjectT, src: int = 0) -> ObjectT:
    """Return rank ``src``'s ``obj`` on every rank (any picklable object).

    With one process, ``obj`` itself is returned.

    >>> broadcast_object({"seed": 7})
    {'seed': 7}
    """
    world_size = get_world_size()
    if not isinstance(src, int) or not 0 <= src < world_size:
        raise ValueError(
            f"broadcast_object src must be a rank between 0 and {world_size - 1}, got src={src!r}. "
            "Pass the rank whose object every rank should receive."
        )
    if world_size == 1:
        return obj
    holder: list[Any] = [obj]
    device = torch.device("cuda", get_local_rank()) if get_backend() == "nccl" else None
    dist.broadcast_object_list(holder, src=src, device=device)
    result: ObjectT = holder[0]
    return result


def barrier() -> None:
    """Wait until every rank has reached this call; returns at once with one process.

    >>> barrier()
    """
    if get_world_size() > 1:
        dist.barrier()
