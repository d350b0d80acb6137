"""Where this process stands: rank, world size, node, local rank, device and backend.

The global rank and world size come from the process group itself. Where a process sits on its
machine (local rank, processes per node, node rank, number of nodes) is not something
``torch.distributed`` knows; it is read once when the group is joined (:func:`sync`, called by
:func:`~ember.distributed.initialize`), from torchrun's variables (``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``GROUP_RANK``), from SLURM's (``SLURM_LOCALID``, ``SLURM_NODEID``...), or,
when neither launcher said, from the host names of all ranks. It is never guessed from the global
rank: on several machines the global rank is not the index of a GPU.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "available_backends",
    "backend",
    "device",
    "get_backend",
    "get_local_rank",
    "get_nnodes",
    "get_node_rank",
    "get_nproc_per_node",
    "get_rank",
    "get_world_size",
    "has_hvd_support",
    "has_native_dist_support",
    "has_xla_support",
    "hostname",
    "is_distributed",
    "model_name",
    "set_local_rank",
    "sync",
]

#: ember runs on torch.distributed only: no Horovod, no XLA (ignite's other computation models).
has_native_dist_support: bool = dist.is_available()
has_hvd_support: bool = False
has_xla_support: bool = False


@dataclass(frozen=True)
class _Placement:
    """Where this process sits among the machines, found once per process group."""

    local_rank: int
    nproc_per_node: int
    node_rank: int
    nnodes: int


_placement: _Placement | None = None


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


def _int_variable(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"The environment variable {name} must be an integer, got {name}={value!r}. "
            "Unset it, or launch with torchrun or srun, which set it correctly."
        ) from None


def _slurm_tasks_per_node() -> int | None:
    """SLURM_NTASKS_PER_NODE, or the first count of SLURM_TASKS_PER_NODE (written like ``"2(x3),1"``)."""
    explicit = _int_variable("SLURM_NTASKS_PER_NODE")
    if explicit is not None:
        return explicit
    listed = os.environ.get("SLURM_TASKS_PER_NODE")
    if not listed:
        return None
    first = listed.split(",")[0].split("(")[0]
    return int(first) if first.isdigit() else None


def _placement_from_environment(rank: int, world_size: int) -> _Placement | None:
    """What torchrun or SLURM says about this process's machine, or None when they say nothing."""
    local_rank = _int_variable("LOCAL_RANK")
    if local_rank is not None:  # torchrun, or ember's spawn (which sets torchrun's variables)
        nproc = _int_variable("LOCAL_WORLD_SIZE")
        node_rank = _int_variable("GROUP_RANK")
        if nproc is None:
            return None
        if node_rank is None:
            node_rank = rank // nproc
        return _Placement(local_rank, nproc, node_rank, max(1, world_size // nproc))
    slurm_local = _int_variable("SLURM_LOCALID")
    if slurm_local is not None and _int_variable("SLURM_NTASKS") == world_size:
        nproc = _slurm_tasks_per_node()
        node_rank = _int_variable("SLURM_NODEID")
        nnodes = _int_variable("SLURM_NNODES") or _int_variable("SLURM_JOB_NUM_NODES")
        if nproc is None or node_rank is None or nnodes is None:
            return None
        return _Placement(slurm_local, nproc, node_rank, nnodes)
    return None


def sync() -> None:
    """Learn this process's place among the machines; call it on every rank after joining a group.

    :func:`~ember.distributed.initialize` and :class:`~ember.distributed.Parallel` call it. Call it
    yourself (on every rank: it is a collective) only if you created the process group with
    ``torch.distributed.init_process_group`` directly. With no process group it forgets what it
    knew and returns.

    >>> sync()
    >>> get_local_rank(), get_nproc_per_node(), get_nnodes()
    (0, 1, 1)
    """
    global _placement
    if not is_distributed():
        _placement = None
        return
    rank, world_size = get_rank(), get_world_size()
    mine = (socket.gethostname(), _placement_from_environment(rank, world_size))
    everyone: list[tuple[str, _Placement | None]] = [("", None)] * world_size
    # one small collective, so every rank decides from the same facts (no rank can take another path)
    dist.all_gather_object(everyone, mine)
    if all(found is not None for _, found in everyone):
        _placement = mine[1]
        return
    # No launcher told us: processes on the same host are one node, in order of their first rank.
    hosts = [host for host, _ in everyone]
    node_names = list(dict.fromkeys(hosts))
    on_my_node = [other for other, host in enumerate(hosts) if host == hosts[rank]]
    _placement = _Placement(
        local_rank=on_my_node.index(rank),
        nproc_per_node=len(on_my_node),
        node_rank=node_names.index(hosts[rank]),
        nnodes=len(node_names),
    )


def _forget_placement() -> None:
    global _placement
    _placement = None


def _current_placement() -> _Placement:
    if not is_distributed():
        return _Placement(0, 1, 0, 1)
    if _placement is not None:
        return _placement
    found = _placement_from_environment(get_rank(), get_world_size())
    if found is None:
        raise RuntimeError(
            "This process is in a process group, but where it sits among the machines is unknown: torchrun's "
            "LOCAL_RANK/LOCAL_WORLD_SIZE and SLURM's SLURM_LOCALID are not set, and the group was not joined "
            "through ember.distributed.initialize. Call ember.distributed.sync() on every rank after "
            "torch.distributed.init_process_group, or launch with torchrun."
        )
    return found


def get_local_rank() -> int:
    """This process's rank among the processes of its machine (the index of its GPU), 0 when not distributed.

    Read from torchrun's ``LOCAL_RANK`` or SLURM's ``SLURM_LOCALID``, or found from the host names
    when the group was joined; never taken to be the global rank.

    >>> get_local_rank()
    0
    """
    return _current_placement().local_rank


def set_local_rank(index: int) -> None:
    """Declare this process's local rank, for launchers that publish it under another name.

    Call it on every rank, after joining the group and before anything asks for the local rank.
    """
    global _placement
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"set_local_rank needs a non-negative integer, got {index!r}.")
    known = _current_placement() if is_distributed() else _Placement(0, 1, 0, 1)
    _placement = _Placement(index, known.nproc_per_node, known.node_rank, known.nnodes)


def get_nproc_per_node() -> int:
    """The number of processes on each machine, or 1 when not distributed.

    >>> get_nproc_per_node()
    1
    """
    return _current_placement().nproc_per_node


def get_nnodes() -> int:
    """The number of machines taking part, or 1 when not distributed.

    >>> get_nnodes()
    1
    """
    return _current_placement().nnodes


def get_node_rank() -> int:
    """The index of this machine among those taking part, or 0 when not distributed.

    >>> get_node_rank()
    0
    """
    return _current_placement().node_rank


def get_backend() -> str | None:
    """The backend of the process group (``"gloo"``, ``"nccl"`` …), or None when not distributed.

    >>> get_backend() is None
    True
    """
    return str(dist.get_backend()) if is_distributed() else None


def backend() -> str | None:
    """ignite's name for :func:`get_backend`.

    >>> backend() is None
    True
    """
    return get_backend()


def available_backends() -> tuple[str, ...]:
    """The backends this installation of PyTorch can use here: ``"gloo"``, and ``"nccl"`` with CUDA GPUs.

    >>> "gloo" in available_backends()
    True
    """
    if not dist.is_available():
        return ()
    found = []
    if dist.is_nccl_available() and torch.cuda.is_available():
        found.append("nccl")
    if dist.is_gloo_available():
        found.append("gloo")
    if dist.is_mpi_available():
        found.append("mpi")
    return tuple(found)


def model_name() -> str:
    """``"serial"`` with one process, ``"native-dist"`` in a torch.distributed group (ignite's names).

    >>> model_name()
    'serial'
    """
    return "native-dist" if is_distributed() else "serial"


def hostname() -> str:
    """The name of this machine.

    >>> hostname() == __import__("socket").gethostname()
    True
    """
    return socket.gethostname()


def device() -> torch.device:
    """The device this process computes on.

    With NCCL, ``cuda:<local rank>``; with gloo, the CPU; with one process, ``cuda`` when a GPU is
    there and the CPU otherwise.

    >>> device().type in ("cpu", "cuda")
    True
    """
    if not is_distributed():
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if get_backend() == "nccl":
        return torch.device("cuda", get_local_rank())
    return torch.device("cpu")
