"""Collectives that every rank calls together; with one process they return their input and call nothing.

Each function here must be called by all ranks of the group, in the same order: a collective that
only some ranks reach blocks the others until the process group's timeout.

They take what ignite's ``idist`` takes: tensors, Python numbers, strings, and (for gathering and
broadcasting) any picklable object, and give back the same kind of thing. One difference: ember
never changes a tensor you pass in; the result is a new tensor (ignite reduces in place). Code
that uses the returned value, as ignite's documentation does, behaves the same.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast, overload

import torch
import torch.distributed as dist

from ember.distributed.process import device as _process_device
from ember.distributed.process import get_backend, get_local_rank, get_rank, get_world_size, is_distributed

__all__ = [
    "all_gather",
    "all_gather_tensors_with_shapes",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object",
    "new_group",
    "one_rank_first",
    "one_rank_only",
]

ObjectT = TypeVar("ObjectT")
ReturnT = TypeVar("ReturnT")
Group = Any  # a torch ProcessGroup, or a list of ranks (ignite accepts both)

_REDUCE_OPS = {
    "SUM": dist.ReduceOp.SUM,
    "PRODUCT": dist.ReduceOp.PRODUCT,
    "MIN": dist.ReduceOp.MIN,
    "MAX": dist.ReduceOp.MAX,
    "MEAN": dist.ReduceOp.SUM,  # a sum divided by the group's size afterwards: gloo has no AVG
}


def _communication_device(tensor: torch.Tensor) -> torch.device:
    """The device a tensor must be on for the backend: NCCL moves only this process's CUDA tensors."""
    if get_backend() == "nccl":
        own = torch.device("cuda", get_local_rank())
        if tensor.device != own:
            return own
    return tensor.device


def _resolve_group(function: str, group: Group) -> Any:
    """A ProcessGroup (or None for the whole world) from ignite's forms: None, a group, or a list of ranks."""
    if group is None:
        return None
    if isinstance(group, (list, tuple)):
        return new_group(list(group)) if is_distributed() else None
    if isinstance(group, dist.ProcessGroup) or group is dist.GroupMember.NON_GROUP_MEMBER:
        return group  # new_group gives ranks outside the group a marker instead of a group
    raise TypeError(
        f"{function} takes group=None, a process group from new_group(...), or a list of ranks, "
        f"got {type(group).__name__}."
    )


def _group_size(group: Any) -> int:
    return get_world_size() if group is None else dist.get_world_size(group)


def _is_member(group: Any) -> bool:
    return group is None or (group is not dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(group) >= 0)


def new_group(ranks: Sequence[int], **kwargs: Any) -> Any:
    """A process group of the given ranks (a collective: every rank of the world calls it, members or not).

    With one process it returns ``ranks`` unchanged, which the collectives accept.

    >>> new_group([0])
    [0]
    """
    if isinstance(ranks, (str, bytes)) or not all(
        isinstance(rank, int) and not isinstance(rank, bool) for rank in ranks
    ):
        raise TypeError(f"new_group takes a list of integer ranks, got {ranks!r}.")
    world_size = get_world_size()
    outside = [rank for rank in ranks if not 0 <= rank < world_size]
    if outside:
        raise ValueError(
            f"new_group got ranks {outside} outside the world of {world_size} process(es) (ranks 0 to "
            f"{world_size - 1}). Pass ranks that exist."
        )
    if not is_distributed():
        return list(ranks)
    return dist.new_group(ranks=list(ranks), **kwargs)


@overload
def all_reduce(tensor: torch.Tensor, op: str = "SUM", group: Group = None) -> torch.Tensor: ...
@overload
def all_reduce(tensor: float, op: str = "SUM", group: Group = None) -> float: ...
def all_reduce(tensor: torch.Tensor | float, op: str = "SUM", group: Group = None) -> torch.Tensor | float:
    """Reduce a tensor or a number element-wise across the ranks; every rank gets the result.

    ``op`` is ``"SUM"``, ``"MEAN"``, ``"MIN"``, ``"MAX"`` or ``"PRODUCT"`` (any case). A tensor comes
    back as a new tensor on the input's device (the input is untouched); a Python number comes back
    as a number of the same type (``"MEAN"`` gives a float). Boolean tensors work (as 0/1). With one
    process, or on a rank outside ``group``, the input comes back without communicating.

    >>> all_reduce(3), all_reduce(torch.tensor([1, 2]), op="max")
    (3, tensor([1, 2]))
    """
    name = op.upper() if isinstance(op, str) else op
    if name not in _REDUCE_OPS:
        raise ValueError(f"all_reduce op must be one of {list(_REDUCE_OPS)}, got op={op!r}. Pass one of those names.")
    if isinstance(tensor, bool) or not isinstance(tensor, (torch.Tensor, int, float)):
        raise TypeError(
            f"all_reduce takes a torch.Tensor or a number, got {type(tensor).__name__}. "
            "Gather other objects with all_gather instead."
        )
    resolved = _resolve_group("all_reduce", group)
    if isinstance(tensor, torch.Tensor):
        if not is_distributed() or not _is_member(resolved):
            return tensor.clone()
        return _reduce_tensor(tensor, name, resolved)
    if not is_distributed() or not _is_member(resolved):
        return float(tensor) if name == "MEAN" else tensor
    as_tensor = torch.tensor([tensor], dtype=torch.float64 if isinstance(tensor, float) else torch.int64)
    result = _reduce_tensor(as_tensor, name, resolved).item()
    return result if name == "MEAN" else type(tensor)(result)


def _reduce_tensor(tensor: torch.Tensor, name: str, group: Any) -> torch.Tensor:
    device = _communication_device(tensor)
    # Booleans are not reducible by every backend; integers are, and sum/min/max keep their meaning.
    work_dtype = torch.uint8 if tensor.dtype == torch.bool else tensor.dtype
    work = tensor.detach().to(device=device, dtype=work_dtype, copy=True)
    dist.all_reduce(work, op=_REDUCE_OPS[name], group=group)
    if name == "MEAN":
        work = (work.double() if not work.is_floating_point() else work) / _group_size(group)
    elif tensor.dtype == torch.bool:
        work = work.bool()
    return work.to(tensor.device)


def _gather_objects(obj: Any, group: Any) -> list[Any]:
    gathered: list[Any] = [None] * _group_size(group)
    dist.all_gather_object(gathered, obj, group=group)
    return gathered


def _describe(value: Any) -> tuple[str, Any]:
    """What a rank announces before a gather: a tensor's shape and dtype, or the object itself."""
    if isinstance(value, torch.Tensor):
        rows = value.reshape(1) if value.dim() == 0 else value
        return ("tensor", (list(rows.shape), str(rows.dtype)))
    return ("object", value)


def _check_same_kind(function: str, described: list[tuple[str, Any]]) -> None:
    """Every rank raises the same error when some ranks gathered tensors and others Python objects."""
    tensors = [rank for rank, (kind, _) in enumerate(described) if kind == "tensor"]
    if tensors and len(tensors) < len(described):
        objects = [rank for rank, (kind, _) in enumerate(described) if kind != "tensor"]
        kinds = ", ".join(
            f"rank {rank}: {'a tensor' if kind == 'tensor' else type(payload).__name__}"
            for rank, (kind, payload) in enumerate(described)
        )
        raise ValueError(
            f"{function} got a tensor on rank(s) {tensors} but a Python object on rank(s) {objects} ({kinds}). Every "
            "rank must pass the same kind of value: convert the objects with torch.tensor(value) on those ranks, or "
            "pass plain Python values everywhere (e.g. tensor.tolist()) to gather them as objects."
        )


def _check_rows(function: str, described: list[tuple[str, Any]]) -> list[list[int]]:
    """The ranks' shapes, checked to differ only in the first dimension and to share one dtype."""
    shapes: list[list[int]] = [payload[0] for _, payload in described]
    dtypes: list[str] = [payload[1] for _, payload in described]
    first = shapes[0]
    odd = [rank for rank, shape in enumerate(shapes) if len(shape) != len(first) or shape[1:] != first[1:]]
    if odd:
        raise ValueError(
            f"{function} needs tensors that match in every dimension but the first, got shapes {shapes} by rank "
            f"(rank {odd[0]}'s {shapes[odd[0]]} against rank 0's {first}). Only the first (batch) dimension may "
            "differ between ranks: reshape the tensors so that the other dimensions agree on every rank."
        )
    odd = [rank for rank, dtype in enumerate(dtypes) if dtype != dtypes[0]]
    if odd:
        raise ValueError(
            f"{function} needs tensors of one dtype on every rank, got {dtypes} by rank (rank {odd[0]}'s "
            f"{dtypes[odd[0]]} against rank 0's {dtypes[0]}). Convert them to one dtype first, e.g. "
            f"tensor.to({dtypes[0]})."
        )
    return shapes


def _gather_rows(
    tensor: torch.Tensor, group: Any, function: str = "all_gather"
) -> tuple[list[torch.Tensor], list[list[int]]]:
    """Every rank's tensor (a scalar counts as one row), and the shapes, checked to differ only in dim 0."""
    rows = tensor.reshape(1) if tensor.dim() == 0 else tensor
    device = _communication_device(rows)
    # The shapes and dtypes travel first, so a mismatch is an error on every rank, not a hang.
    described = _gather_objects(_describe(rows), group)
    _check_same_kind(function, described)
    shapes = _check_rows(function, described)
    longest = max(shape[0] for shape in shapes)
    # Collectives need equal sizes: pad every shard to the longest, then cut the padding off again.
    padded = torch.zeros((longest, *rows.shape[1:]), dtype=rows.dtype, device=device)
    padded[: rows.shape[0]] = rows.to(device)
    gathered = [torch.empty_like(padded) for _ in shapes]
    dist.all_gather(gathered, padded, group=group)
    return [piece[: shape[0]].to(tensor.device) for piece, shape in zip(gathered, shapes)], shapes


@overload
def all_gather(tensor: torch.Tensor, group: Group = None) -> torch.Tensor: ...  # type: ignore[overload-overlap]
@overload
def all_gather(tensor: ObjectT, group: Group = None) -> list[ObjectT]: ...
def all_gather(tensor: Any, group: Group = None) -> Any:
    """Collect every rank's value, in rank order, on every rank.

    A tensor: the ranks' tensors concatenated along the first dimension (a 0-dimensional tensor
    counts as one row). The first dimension may differ between ranks (uneven shards, even zero
    rows); the other dimensions and the dtype must match, or a ``ValueError`` on every rank names
    every rank's shape (or dtype). A tensor on some ranks and a Python object on others is a
    ``ValueError`` on every rank too, never a hang. Anything else (a number, a string, any
    picklable object): the list of the ranks' values. With one process: a copy of the tensor (as
    one row if it was a scalar), or ``[value]``.

    >>> all_gather(torch.tensor([3, 4])), all_gather(5), all_gather("a")
    (tensor([3, 4]), [5], ['a'])
    """
    resolved = _resolve_group("all_gather", group)
    if isinstance(tensor, torch.Tensor):
        if not is_distributed() or not _is_member(resolved):
            return (tensor.reshape(1) if tensor.dim() == 0 else tensor).clone()
        pieces, _ = _gather_rows(tensor, resolved)
        return torch.cat(pieces)
    if not is_distributed() or not _is_member(resolved):
        return [tensor]
    # The object travels in the same announcement a tensor's shape does, so a rank that passed a tensor
    # while this one passed an object gets the same error here as there, instead of a hang or a wrong list.
    described = _gather_objects(_describe(tensor), resolved)
    _check_same_kind("all_gather", described)
    return [payload for _, payload in described]


def all_gather_tensors_with_shapes(
    tensor: torch.Tensor, shape_per_rank: Sequence[Sequence[int]], group: Group = None
) -> list[torch.Tensor]:
    """Every rank's tensor as a list, each cut to its rank's shape in ``shape_per_rank`` (ignite's helper).

    ``all_gather`` already takes shards of different lengths; this keeps them apart instead of
    concatenating them.

    >>> all_gather_tensors_with_shapes(torch.ones(2, 3), [[2, 3]])[0].shape
    torch.Size([2, 3])
    """
    resolved = _resolve_group("all_gather_tensors_with_shapes", group)
    if not is_distributed() or not _is_member(resolved):
        return [tensor.clone()]
    if len(shape_per_rank) != _group_size(resolved):
        raise ValueError(
            f"shape_per_rank lists {len(shape_per_rank)} shapes for a group of {_group_size(resolved)} ranks. "
            "Give one shape per rank."
        )
    own = list(shape_per_rank[dist.get_rank(resolved)])
    if list(tensor.shape) != own:
        raise ValueError(
            f"This rank's tensor has shape {list(tensor.shape)}, but shape_per_rank says {own}. Pass the real shapes."
        )
    pieces, _ = _gather_rows(tensor.reshape(-1), resolved, "all_gather_tensors_with_shapes")
    return [piece.reshape(list(shape)) for piece, shape in zip(pieces, shape_per_rank)]


def broadcast(tensor: ObjectT, src: int = 0, safe_mode: bool = False) -> ObjectT:
    """Rank ``src``'s tensor, number, string or picklable object, on every rank.

    The source's value decides what travels: its shape and dtype go first, so the other ranks may
    pass ``None``, a placeholder, or a tensor of another shape, and never hang on a mismatch. A
    tensor result lands on the device of the tensor a rank passed (or on :func:`device`); the
    passed tensor is not changed. ``safe_mode`` is accepted for ignite's code: ember is always safe.
    With one process, the value itself comes back.

    >>> broadcast(5), broadcast("config")
    (5, 'config')
    """
    if not isinstance(safe_mode, bool):
        raise TypeError(f"broadcast safe_mode must be True or False, got {safe_mode!r}.")
    world_size = get_world_size()
    if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < world_size:
        raise ValueError(
            f"broadcast src must be a rank between 0 and {world_size - 1}, got src={src!r}. "
            "Pass the rank whose value every rank should receive."
        )
    if get_rank() == src and tensor is None:
        raise ValueError(
            f"broadcast got None on the source rank {src}: it sends the source's value, so the source needs one."
        )
    if world_size == 1:
        return tensor
    is_source = get_rank() == src
    if is_source and isinstance(tensor, torch.Tensor):
        announced: tuple[str, Any] = ("tensor", (list(tensor.shape), tensor.dtype))
    else:
        announced = ("object", tensor if is_source else None)
    kind, payload = broadcast_object(announced, src)
    if kind == "object":
        return cast(ObjectT, payload)
    shape, dtype = payload
    if is_source:
        return cast(ObjectT, _broadcast_tensor(cast(torch.Tensor, tensor), src))
    home = tensor.device if isinstance(tensor, torch.Tensor) else _process_device()
    return cast(ObjectT, _broadcast_tensor(torch.empty(shape, dtype=dtype, device=home), src))


def _broadcast_tensor(tensor: torch.Tensor, src: int) -> torch.Tensor:
    work = tensor.detach().to(device=_communication_device(tensor), copy=True)
    dist.broadcast(work, src=src)
    return work.to(tensor.device)


def broadcast_object(obj: ObjectT, src: int = 0) -> ObjectT:
    """Return rank ``src``'s ``obj`` on every rank (any picklable object).

    With one process, ``obj`` itself is returned.

    >>> broadcast_object({"seed": 7})
    {'seed': 7}
    """
    world_size = get_world_size()
    if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < world_size:
        raise ValueError(
            f"broadcast_object src must be a rank between 0 and {world_size - 1}, got src={src!r}. "
            "Pass the rank whose object every rank should receive."
        )
    if world_size == 1:
        return obj
    holder: list[Any] = [obj]
    target = torch.device("cuda", get_local_rank()) if get_backend() == "nccl" else None
    dist.broadcast_object_list(holder, src=src, device=target)
    result: ObjectT = holder[0]
    return result


def barrier(group: Group = None) -> None:
    """Wait until every rank (of ``group``) has reached this call; returns at once with one process.

    >>> barrier()
    """
    resolved = _resolve_group("barrier", group)
    if is_distributed() and _is_member(resolved):
        dist.barrier(group=resolved)


def _wait_for_ranks(name: str, seconds: float, forget: str | None = None) -> list[int]:
    """Mark this rank as arrived at ``name``; wait up to ``seconds`` for every rank; return those that did not come.

    It goes through the process group's key-value store, not through a collective, so a rank that
    never comes cannot pair this call with another collective (which would hang or mix up data):
    the ranks that are there learn, after ``seconds``, which ranks are missing. ``name`` must be
    the same on every rank for one meeting and new for each; ``forget`` is the name of this rank's
    previous meeting, whose key it removes (every rank is past it once this one is complete).
    Returns ``[]`` when every rank arrived, with one process, or without a reachable store.
    """
    if not is_distributed() or get_world_size() == 1:
        return []
    try:
        store = dist.distributed_c10d._get_default_store()
    except (AttributeError, RuntimeError, ValueError):
        return []
    # torchrun's agent keeps its store across restarts of the workers: a restarted job gets its own keys
    prefix = f"ember/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/"
    rank, world_size = get_rank(), get_world_size()
    store.set(f"{prefix}{name}/{rank}", "1")
    keys = [f"{prefix}{name}/{other}" for other in range(world_size)]
    try:
        store.wait(keys, datetime.timedelta(seconds=seconds))
    except RuntimeError:  # torch's DistStoreError: the wait timed out
        return [other for other, key in enumerate(keys) if not store.check([key])]
    if forget is not None:
        store.delete_key(f"{prefix}{forget}/{rank}")
    return []


def one_rank_only(
    rank: int = 0, with_barrier: bool = False
) -> Callable[[Callable[..., ReturnT]], Callable[..., ReturnT | None]]:
    """Decorator: run the function on ``rank`` only (None elsewhere); ``with_barrier`` makes every rank wait for it.

    >>> @one_rank_only()
    ... def announce():
    ...     return "printed once"
    >>> announce()
    'printed once'
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise ValueError(f"one_rank_only needs a non-negative integer rank, got rank={rank!r}.")

    def decorate(function: Callable[..., ReturnT]) -> Callable[..., ReturnT | None]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> ReturnT | None:
            if rank >= get_world_size():
                raise ValueError(
                    f"one_rank_only(rank={rank}) was called in a world of {get_world_size()} process(es), which has "
                    f"no rank {rank}. Pass a rank below {get_world_size()}."
                )
            result = function(*args, **kwargs) if get_rank() == rank else None
            if with_barrier:
                barrier()
            return result

        return wrapper

    return decorate


class one_rank_first:
    """Context manager: rank ``rank`` runs the block first, the others after it (e.g. download, then read).

    With ``local=True`` the order holds per machine, by local rank.

    >>> with one_rank_first():
    ...     pass
    """

    def __init__(self, rank: int = 0, local: bool = False) -> None:
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ValueError(f"one_rank_first needs a non-negative integer rank, got rank={rank!r}.")
        self.rank, self.local = rank, local

    def _mine(self) -> int:
        return get_local_rank() if self.local else get_rank()

    def __enter__(self) -> None:
        if self._mine() != self.rank:
            barrier()

    def __exit__(self, *exc_info: object) -> None:
        if self._mine() == self.rank:
            barrier()
