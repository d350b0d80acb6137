"""Starting and ending a process group: under torchrun, or by spawning local processes."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as torch_mp
from torch.multiprocessing.spawn import start_processes

from ember.distributed.process import get_local_rank, is_distributed

__all__ = ["finalize", "initialize", "spawn"]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def initialize(backend: str | None = None) -> None:
    """Join the process group described by torchrun's environment variables.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (torchrun
    and :func:`spawn` set them). ``backend`` defaults to ``"nccl"`` when CUDA is available and
    ``"gloo"`` otherwise; with NCCL the process also selects the GPU ``cuda:LOCAL_RANK``.

    Raises:
        RuntimeError: if a process group is already initialised, or the variables are missing.
        ValueError: if ``backend`` is ``"nccl"`` without CUDA, or is not a known backend.

    Example (in a script started with ``torchrun --nproc-per-node=2 train.py``)::

        from ember import distributed

        distributed.initialize()
        try:
            ...  # train; distributed.get_rank() tells the processes apart
        finally:
            distributed.finalize()
    """
    if is_distributed():
        raise RuntimeError(
            "initialize was called, but a torch.distributed process group is already initialised in this process. "
            "Call initialize once per process, or call finalize first."
        )
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"initialize reads the process group from the environment, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Launch the script with torchrun "
            "(e.g. torchrun --nproc-per-node=2 script.py), or use ember.distributed.spawn to start local processes."
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    _check_backend(backend)
    if backend == "nccl":
        # Each process drives one GPU; choosing it before the group forms keeps NCCL off cuda:0 for all ranks.
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, init_method="env://")


def _check_backend(backend: Any) -> None:
    known = ("gloo", "nccl", "mpi", "ucc")
    if backend not in known:
        raise ValueError(f"backend must be one of {list(known)}, got backend={backend!r}. Pass one of those names.")
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError(
            "backend='nccl' needs CUDA GPUs, but torch.cuda.is_available() is False here. Use backend='gloo' on CPU."
        )


def finalize() -> None:
    """Leave and destroy the process group; does nothing when none is initialised.

    >>> finalize()
    """
    if is_distributed():
        dist.destroy_process_group()


def _free_port() -> int:
    """A TCP port that is free on this machine right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _spawned_process(
    local_rank: int,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    nprocs: int,
    backend: str,
    port: int,
    results: Any,
) -> None:
    """Body of each spawned process: join the group, run ``function``, send its result back."""
    os.environ.update(
        {
            "RANK": str(local_rank),
            "LOCAL_RANK": str(local_rank),
            "WORLD_SIZE": str(nprocs),
            "LOCAL_WORLD_SIZE": str(nprocs),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    initialize(backend)
    try:
        value = function(get_local_rank(), *args)
    finally:
        finalize()
    results.put((local_rank, value))


def spawn(
    function: Callable[..., Any],
    nprocs: int,
    backend: str = "gloo",
    args: Sequence[Any] = (),
    start_method: str = "spawn",
) -> list[Any]:
    """Run ``function(local_rank, *args)`` in ``nprocs`` new local processes forming a process group.

    Each process gets the torchrun environment variables (on a free port of 127.0.0.1), joins the
    group with ``backend``, runs ``function``, and leaves the group. The call returns when all are
    done, with the list of their return values in rank order (they must be picklable). If any
    process raises, the others are stopped and a ``torch.multiprocessing.ProcessRaisedException``
    carrying that process's traceback is raised.

    ``start_method="spawn"`` (the default) starts fresh interpreters, so ``function`` must be
    importable: defined at the top level of a module (in a notebook, put it in a ``.py`` file next
    to the notebook and import it). ``start_method="fork"`` starts faster and accepts any function,
    but a forked child can deadlock when the parent already runs threads (torch's thread pools,
    a previous process group, CUDA), so use it only from a fresh, single-threaded parent.

    Example (in a script, under ``if __name__ == "__main__":``)::

        from ember import distributed

        def work(local_rank):
            return distributed.all_reduce(torch.tensor(local_rank + 1)).item()

        distributed.spawn(work, nprocs=2)  # [3, 3]
    """
    if not callable(function):
        raise TypeError(f"spawn needs a callable function(local_rank, *args), got {type(function).__name__}.")
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn needs nprocs, a positive integer number of processes, got nprocs={nprocs!r}.")
    if start_method not in ("spawn", "fork", "forkserver"):
        raise ValueError(
            f"start_method must be 'spawn', 'fork' or 'forkserver', got start_method={start_method!r}. "
            "Use 'spawn' unless you need 'fork' for functions defined in a notebook."
        )
    _check_backend(backend)
    if is_distributed():
        raise RuntimeError(
            "spawn was called from a process that is already in a torch.distributed process group. "
            "Call spawn from the main, non-distributed process."
        )
    results = torch_mp.get_context(start_method).SimpleQueue()
    context = start_processes(  # type: ignore[no-untyped-call]
        _spawned_process,
        args=(function, tuple(args), nprocs, backend, _free_port(), results),
        nprocs=nprocs,
        join=False,
        start_method=start_method,
    )
    values: dict[int, Any] = {}
    # Read results while waiting, so a large return value cannot fill the pipe and block its sender.
    while not context.join(timeout=0.05):
        while not results.empty():
            rank, value = results.get()
            values[rank] = value
    while not results.empty():
        rank, value = results.get()
        values[rank] = value
    return [values[rank] for rank in range(nprocs)]
