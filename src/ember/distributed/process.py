"""Where this process stands in the process group: rank, world size, local rank, backend."""

from __future__ import annotations

import os

import torch.distributed as dist

__all__ = ["get_backend", "get_local_rank", "get_rank", "get_world_size", "is_distributed"]


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group is initialised in this process.

    >>> is_distributed()
    False
    """
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank in the process group, or 0 when not distributed.

    >>> get_rank()
    0
    """
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """The number of processes in the process group, or 1 when not distributed.

    >>> get_world_size()
    1
    """
    return dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    """This process's rank among the processes of its machine, or 0 when not distributed.

    torchrun (and :func:`ember.distributed.spawn`) publish it as the ``LOCAL_RANK`` environment
    variable; a process group started without it on one machine has local rank equal to its rank.

    >>> get_local_rank()
    0
    """
    if not is_distributed():
        return 0
    value = os.environ.get("LOCAL_RANK")
    if value is None:
        return dist.get_rank()
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"The LOCAL_RANK environment variable must be an integer, got LOCAL_RANK={value!r}. "
            "Unset it, or launch with torchrun, which sets it correctly."
        ) from None


def get_backend() -> str | None:
    """The backend of the process group (``"gloo"``, ``"nccl"`` …), or None when not distributed.

    >>> get_backend() is None
    True
    """
    return str(dist.get_backend()) if is_distributed() else None
