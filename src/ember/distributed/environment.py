"""What the launcher says about this job, and the warning for a job of several processes that never joined a group.

``torchrun --nproc-per-node 2 train.py`` (or ``srun -n 2``, or ``mpirun -n 2``) starts the script
twice; whether the copies train together depends on the script joining a process group
(:class:`~ember.distributed.Parallel` with a backend, or :func:`~ember.distributed.initialize`).
A script that does not (``Parallel(backend=None)``, or no ``Parallel`` at all) runs as several
independent one-process jobs: each trains its own copy on all the data and prints everything, with
nothing to say so. :func:`warn_if_launched_without_group` says so, once per process; ember's
``auto_model``, ``auto_optim``, ``auto_dataloader`` and ``show_config`` call it, the helpers every
script meant for several processes calls at its start.
"""

from __future__ import annotations

import os
import warnings

from ember.distributed.process import (
    backend,
    device,
    get_local_rank,
    get_nnodes,
    get_node_rank,
    get_nproc_per_node,
    get_rank,
    get_world_size,
    hostname,
    is_distributed,
    model_name,
)
from ember.utils import setup_logger

__all__ = ["launched_processes", "show_config", "warn_if_launched_without_group"]

# (variable, launcher): the number of processes each launcher started for this job (step).
# SLURM_NTASKS alone is not enough: an sbatch script sees the job's task count but runs once;
# SLURM_STEP_NUM_TASKS is set by srun for the processes it started.
_LAUNCHER_VARIABLES = (
    ("WORLD_SIZE", "torchrun"),
    ("SLURM_STEP_NUM_TASKS", "srun"),
    ("OMPI_COMM_WORLD_SIZE", "mpirun"),
    ("PMI_SIZE", "mpirun"),
)

_warned = False


def launched_processes() -> tuple[int, str] | None:
    """``(number of processes, launcher)`` when the environment says a launcher started several, else None.

    >>> launched_processes() is None  # a plain `python` process
    True
    """
    for variable, launcher in _LAUNCHER_VARIABLES:
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 1:
            return int(value), f"{launcher} ({variable}={value})"
    return None


def warn_if_launched_without_group(stacklevel: int = 2) -> bool:
    """Warn, once per process, when a launcher started several processes and none joined a process group.

    Returns whether it warned now. Nothing happens with a process group, or when no launcher
    started several processes.

    >>> warn_if_launched_without_group()
    False
    """
    global _warned
    if _warned or is_distributed():
        return False
    launched = launched_processes()
    if launched is None:
        return False
    _warned = True
    count, launcher = launched
    rank = os.environ.get("RANK", os.environ.get("SLURM_PROCID", "?"))
    warnings.warn(
        f"{launcher} started {count} processes (this is rank {rank}), but no torch.distributed process group was "
        f"set up: the {count} processes run as independent one-process jobs, each training its own copy of the "
        "model on all the data and printing everything. Join the group the launcher describes: run your function "
        'with `with ember.distributed.Parallel(backend="gloo") as parallel: parallel.run(fn, ...)` ("nccl" on '
        'GPUs; backend=None never forms a group), or call ember.distributed.initialize("gloo") first.',
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )
    return True


def show_config() -> None:
    """Log this process's distributed configuration, one fact per line, at INFO level (ignite's ``show_config``).

    The lines are ignite's: the computation model (``serial`` or ``native-dist``), the backend, the
    device, the host name, the world size, the rank, the local rank, the processes per node, the
    number of nodes and the node rank, on the logger ``ember.distributed.utils`` set up with
    :func:`ember.utils.setup_logger` (so they are printed without any logging configuration).

    >>> show_config()
    """
    warn_if_launched_without_group()
    logger = setup_logger("ember.distributed.utils")
    logger.info(f"distributed configuration: {model_name()}")
    logger.info(f"backend: {backend()}")
    logger.info(f"device: {device().type}")
    logger.info(f"hostname: {hostname()}")
    logger.info(f"world size: {get_world_size()}")
    logger.info(f"rank: {get_rank()}")
    logger.info(f"local rank: {get_local_rank()}")
    logger.info(f"num processes per_node: {get_nproc_per_node()}")
    logger.info(f"num nodes: {get_nnodes()}")
    logger.info(f"node rank: {get_node_rank()}")
