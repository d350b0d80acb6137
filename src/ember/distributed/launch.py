"""Joining, leaving and starting process groups: under torchrun or SLURM, or by spawning local processes.

ember never invents a launcher protocol: a group is formed by ``torch.distributed.init_process_group``
from torchrun's (or SLURM's) environment, and local processes are started by Python's
``multiprocessing`` with torchrun's variables set, so a function behaves the same whichever started it.
"""

from __future__ import annotations

import datetime
import faulthandler
import gc
import importlib
import logging
import os
import pickle
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as torch_mp

from ember.distributed._ranks import _DEFAULT_TIMEOUT, RankRaisedError, _name_of, _Ranks
from ember.distributed.process import _forget_placement, get_local_rank, is_distributed, sync

__all__ = ["Parallel", "RankRaisedError", "finalize", "initialize", "spawn"]

logger = logging.getLogger(__name__)

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_KNOWN_BACKENDS = ("gloo", "nccl", "mpi", "ucc")


def _check_backend(backend: Any) -> None:
    if backend not in _KNOWN_BACKENDS:
        raise ValueError(
            f"backend must be one of {list(_KNOWN_BACKENDS)}, got backend={backend!r}. "
            "Use 'gloo' on CPUs and 'nccl' on NVIDIA GPUs."
        )
    if backend == "nccl" and not torch.cuda.is_available():
        raise ValueError(
            "backend='nccl' needs CUDA GPUs, but torch.cuda.is_available() is False here. Use backend='gloo' on CPU."
        )


def _as_timedelta(timeout: Any) -> datetime.timedelta | None:
    if timeout is None or isinstance(timeout, datetime.timedelta):
        return timeout
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return datetime.timedelta(seconds=timeout)
    raise ValueError(f"timeout must be a datetime.timedelta or a positive number of seconds, got timeout={timeout!r}.")


def _slurm_first_host(nodelist: str) -> str:
    """The first host of a SLURM node list such as ``"gpu[03-05,07],cpu1"`` (here ``gpu03``)."""
    match = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist)
    if match is None:
        raise ValueError(f"Cannot read the SLURM node list {nodelist!r}. Set MASTER_ADDR to the first node's address.")
    prefix, ranges = match.group(1), match.group(3)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def _slurm_environment() -> dict[str, str]:
    """torchrun's variables derived from SLURM's, for a job started by ``srun`` (one task per process)."""
    job = os.environ.get("SLURM_JOB_ID", "0")
    nodelist = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST") or "127.0.0.1"
    return {
        "RANK": os.environ["SLURM_PROCID"],
        "WORLD_SIZE": os.environ["SLURM_NTASKS"],
        "LOCAL_RANK": os.environ.get("SLURM_LOCALID", "0"),
        "MASTER_ADDR": os.environ.get("MASTER_ADDR") or _slurm_first_host(nodelist),
        # every task of the job derives the same port from the job id unless MASTER_PORT says otherwise
        "MASTER_PORT": os.environ.get("MASTER_PORT") or str(15000 + int(job) % 20000 if job.isdigit() else 29500),
    }


def _under_slurm_tasks() -> bool:
    return "SLURM_PROCID" in os.environ and "SLURM_NTASKS" in os.environ and "RANK" not in os.environ


def initialize(
    backend: str | None = None,
    timeout: datetime.timedelta | float | None = None,
    init_method: str | None = None,
    **kwargs: Any,
) -> None:
    """Join the process group described by the launcher's environment (torchrun, or SLURM's ``srun``).

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (torchrun and
    :func:`spawn` set them); in a task started by ``srun`` without them, derives them from
    ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` and the job's node list. ``backend``
    defaults to ``"nccl"`` when CUDA is available and ``"gloo"`` otherwise; with NCCL the process
    selects the GPU ``cuda:LOCAL_RANK`` first. ``timeout`` (a timedelta or seconds) bounds every
    collective: a rank that waits longer for its peers raises instead of hanging. ``init_method``
    and ``kwargs`` (e.g. ``rank=``, ``world_size=`` for ``init_method="tcp://host:port"``) go to
    :func:`torch.distributed.init_process_group`.

    Raises:
        RuntimeError: if a process group is already initialised, or the variables are missing.
        ValueError: if ``backend`` is ``"nccl"`` without CUDA, or is not a known backend.

    Example (in a script started with ``torchrun --nproc-per-node=2 train.py``)::

        import ember.distributed as idist

        idist.initialize("gloo")
        try:
            ...  # train; idist.get_rank() tells the processes apart
        finally:
            idist.finalize()
    """
    if is_distributed():
        raise RuntimeError(
            "initialize was called, but a torch.distributed process group is already initialised in this process. "
            "Call initialize once per process, or call finalize first."
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    _check_backend(backend)
    options: dict[str, Any] = dict(kwargs)
    delta = _as_timedelta(timeout)
    if delta is not None:
        options["timeout"] = delta
    if init_method is None:
        if _under_slurm_tasks():
            os.environ.update(_slurm_environment())
        missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
        if missing:
            raise RuntimeError(
                f"initialize reads the process group from the environment, but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set. Launch the script with torchrun "
                "(e.g. torchrun --nproc-per-node=2 script.py) or srun, or start local processes with "
                "ember.distributed.Parallel(backend='gloo', nproc_per_node=2)."
            )
        init_method = "env://"
    # torch.distributed.nn.functional takes the world group as a default argument, evaluated when it is first
    # imported. DistributedDataParallel imports it; imported while a group exists, it keeps that group (its gloo
    # threads, its store) alive after destroy_process_group until the interpreter shuts down, where the group's
    # threads, still holding tensors, take the GIL from a finalizing interpreter and abort the process ("terminate
    # called without an active exception"). Imported now, before the group exists, its default is None.
    importlib.import_module("torch.distributed.nn.functional")
    if backend == "nccl":
        # Each process drives one GPU; choosing it before the group forms keeps NCCL off cuda:0 for all ranks.
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))))
    dist.init_process_group(backend=backend, init_method=init_method, **options)
    sync()


def finalize() -> None:
    """Leave and destroy the process group; does nothing when none is initialised.

    >>> finalize()
    """
    if is_distributed():
        # Objects still holding the group (a DistributedDataParallel model or work handles kept in reference
        # cycles) must go now: a group that outlives destroy_process_group keeps its gloo threads until the
        # interpreter shuts down, and they abort the process there (see initialize for the other owner).
        gc.collect()
        dist.destroy_process_group()
    _forget_placement()


def _free_port() -> int:
    """A TCP port that is free on this machine right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class _Job:
    """What every spawned process needs to join the group and run the function."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    backend: str
    nproc_per_node: int
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int
    init_method: str | None
    timeout: datetime.timedelta | None
    init_options: Mapping[str, Any] = field(default_factory=dict)


def _run_rank(local_rank: int, job: _Job, reports: Any) -> None:
    """Body of each spawned process: join the group, run the function, send back its value or its error."""
    # A rank that crashes in native code (a segfault, an abort) prints where its Python code was.
    faulthandler.enable()
    rank = job.node_rank * job.nproc_per_node + local_rank
    world_size = job.nnodes * job.nproc_per_node
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(local_rank),
            "WORLD_SIZE": str(world_size),
            "LOCAL_WORLD_SIZE": str(job.nproc_per_node),
            "GROUP_RANK": str(job.node_rank),
            "MASTER_ADDR": job.master_addr,
            "MASTER_PORT": str(job.master_port),
        }
    )
    try:
        options = dict(job.init_options)
        if job.init_method is not None:
            options.update(rank=rank, world_size=world_size)
        initialize(job.backend, timeout=job.timeout, init_method=job.init_method, **options)
        value = job.function(local_rank, *job.args, **job.kwargs)
        payload = _pickled_result(value, job.function)
    except SystemExit as stop:
        if stop.code in (None, 0):
            payload = pickle.dumps(None)
        else:
            # Reported before this process leaves: its peers fail only once it has gone, so this comes first.
            reports.put(("exit", rank, os.getpid(), stop.code))
            finalize()
            sys.exit(stop.code)
    except BaseException as error:
        reports.put(("error", rank, os.getpid(), type(error).__qualname__, str(error), traceback.format_exc()))
        sys.exit(1)
    reports.put(("ok", rank, os.getpid(), payload))
    finalize()


def _pickled_result(value: Any, function: Callable[..., Any]) -> bytes:
    """``value`` pickled for the launching process, or a TypeError saying why it cannot travel there."""
    try:
        return pickle.dumps(value)
    except Exception as error:
        raise TypeError(
            f"{_name_of(function)} returned {type(value).__name__} {value!r:.100}, which cannot be sent back to the "
            f"launching process ({type(error).__name__}: {error}). Return plain data (numbers, strings, lists, dicts, "
            "tensors, instances of classes defined at the top level of a module), not a lambda, a function "
            "defined inside a function, or an object holding one."
        ) from error


def _stop_processes(processes: Sequence[Any], grace: float = 5.0) -> None:
    """Give the processes ``grace`` seconds to exit by themselves, then terminate, then kill them."""
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join()


def _launch(job: _Job, start_method: str) -> list[Any]:
    """Start ``job.nproc_per_node`` local processes, wait for all, and return their values by local rank."""
    context: Any = torch_mp.get_context(start_method)
    reports = context.SimpleQueue()
    processes = [
        context.Process(target=_run_rank, args=(local_rank, job, reports), name=f"ember-rank-{local_rank}")
        for local_rank in range(job.nproc_per_node)
    ]
    ranks = _Ranks(processes, reports, job.node_rank * job.nproc_per_node, job.timeout or _DEFAULT_TIMEOUT)
    failure: BaseException | None = None
    try:
        for process in processes:
            _start(process, job)
        while failure is None and len(ranks.values) < len(processes):
            ranks.wait(1.0)
            failure = ranks.step()
    finally:
        # the others get time to end by themselves unless a rank failed (then they would only fail next)
        failed = failure is not None and not isinstance(failure, SystemExit)
        _stop_processes([process for process in processes if process.pid is not None], grace=0.0 if failed else 30.0)
    if failure is not None:
        raise failure
    ranks.warn_about_exits()
    return [ranks.values[local_rank] for local_rank in range(len(processes))]


def _start(process: Any, job: _Job) -> None:
    """Start one rank's process; a function or argument that cannot be sent to it is a TypeError saying which."""
    try:
        process.start()
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        if not _is_pickling_error(error):
            raise
        raise TypeError(
            f"The arguments of {_name_of(job.function)} cannot be sent to the processes that the start method "
            f"'spawn' starts ({type(error).__name__}: {error}). Pass picklable arguments: plain data, tensors, "
            "and functions or classes defined at the top level of a module (not lambdas, functions defined inside "
            "a function, open files or locks)."
        ) from error


def _is_pickling_error(error: BaseException) -> bool:
    return isinstance(error, pickle.PicklingError) or "pickle" in str(error).lower()


def _positive_integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (at least 1), got {name}={value}.")
    return value


def _check_start_method(start_method: Any) -> None:
    if start_method not in ("spawn", "fork", "forkserver"):
        raise ValueError(
            f"start_method must be 'spawn', 'fork' or 'forkserver', got start_method={start_method!r}. "
            "Use 'spawn' unless you need 'fork' for functions defined in a notebook."
        )


def spawn(*positional: Any, **options: Any) -> list[Any]:
    """Run ``function(local_rank, *args)`` in new local processes forming a process group.

    Two spellings are accepted::

        spawn(function, nprocs, backend="gloo", args=(), start_method="spawn", timeout=None)  # ember
        spawn(backend, function, args, kwargs_dict=None, nproc_per_node=1, nnodes=1, node_rank=0,
              master_addr="127.0.0.1", master_port=None, init_method=None, start_method="spawn")  # ignite

    Each process gets torchrun's environment variables, joins the group, runs the function and
    leaves the group. The call returns when all are done, with their return values in local-rank
    order (they must be picklable). If a process raises, the others are stopped at once and a
    :class:`RankRaisedError` names that rank and carries its exception type, message and traceback;
    a process that dies without a word (killed, aborted) gives a ``ProcessExitedException``, and
    one that calls ``sys.exit(status)`` with a non-zero status (as :class:`~ember.handlers.PreemptionHandler`
    does) makes this process exit with that status too, once the others have ended.

    ``timeout`` (seconds or a timedelta; 10 minutes by default, torch's own default being 30)
    bounds every collective, so a rank stuck in user code fails the job in bounded time, with the
    ranks that never reached the collective named.

    ``start_method="spawn"`` (the default) starts fresh interpreters, so ``function`` must be
    importable: defined at the top level of a module (in a notebook, put it in a ``.py`` file next
    to the notebook and import it); a lambda or a nested function is a ``TypeError`` before any
    process starts, and a return value that cannot be pickled is the rank's ``TypeError``.
    ``start_method="fork"`` accepts any function, but a forked child
    can deadlock when the parent already runs threads (torch's thread pools, CUDA), so use it only
    from a fresh, single-threaded parent.

    Example (in a script, under ``if __name__ == "__main__":``)::

        import ember.distributed as idist

        def work(local_rank):
            return idist.all_reduce(local_rank + 1)

        idist.spawn(work, nprocs=2)  # [3, 3]
    """
    if positional and isinstance(positional[0], str):
        return _spawn_ignite(*positional, **options)
    return _spawn_ember(*positional, **options)


def _spawn_ember(
    function: Callable[..., Any],
    nprocs: int,
    backend: str = "gloo",
    args: Sequence[Any] = (),
    start_method: str = "spawn",
    timeout: datetime.timedelta | float | None = None,
) -> list[Any]:
    if not callable(function):
        raise TypeError(f"spawn needs a callable function(local_rank, *args), got {type(function).__name__}.")
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn needs nprocs, a positive integer number of processes, got nprocs={nprocs!r}.")
    return _spawn_ignite(
        backend, function, tuple(args), nproc_per_node=nprocs, start_method=start_method, timeout=timeout
    )


def _spawn_ignite(
    backend: str,
    fn: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs_dict: Mapping[str, Any] | None = None,
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str | None = None,
    master_port: int | None = None,
    init_method: str | None = None,
    start_method: str = "spawn",
    timeout: datetime.timedelta | float | None = None,
    **init_options: Any,
) -> list[Any]:
    if not callable(fn):
        raise TypeError(f"spawn needs a callable function(local_rank, *args), got {type(fn).__name__}.")
    _positive_integer("nproc_per_node", nproc_per_node)
    _positive_integer("nnodes", nnodes)
    if isinstance(node_rank, bool) or not isinstance(node_rank, int) or not 0 <= node_rank < nnodes:
        raise ValueError(
            f"node_rank must be an integer from 0 to nnodes - 1 = {nnodes - 1}, got node_rank={node_rank!r}."
        )
    _check_start_method(start_method)
    _check_backend(backend)
    if start_method != "fork":
        _check_importable(fn, start_method)
    if nnodes > 1 and (master_addr is None or master_port is None) and init_method is None:
        raise ValueError(
            f"A job on {nnodes} machines needs master_addr and master_port (the address of node 0 and a free port on "
            "it), the same on every machine. Pass both."
        )
    if is_distributed():
        raise RuntimeError(
            "spawn was called from a process that is already in a torch.distributed process group. "
            "Call spawn from the main, non-distributed process."
        )
    job = _Job(
        function=fn,
        args=tuple(args),
        kwargs=dict(kwargs_dict or {}),
        backend=backend,
        nproc_per_node=nproc_per_node,
        nnodes=nnodes,
        node_rank=node_rank,
        master_addr=master_addr or "127.0.0.1",
        master_port=master_port if master_port is not None else _free_port(),
        init_method=init_method,
        timeout=_as_timedelta(timeout) or _DEFAULT_TIMEOUT,
        init_options=init_options,
    )
    return _launch(job, start_method)


def _check_importable(function: Callable[..., Any], start_method: str) -> None:
    """Refuse, before any process starts, a function that a freshly started interpreter cannot find."""
    qualname = str(getattr(function, "__qualname__", ""))
    main = sys.modules.get("__main__")
    problem = ""
    if "<lambda>" in qualname:
        problem = "a lambda"
    elif "<locals>" in qualname:
        problem = "a function defined inside another function"
    elif getattr(function, "__module__", None) == "__main__" and not hasattr(main, "__file__"):
        problem = "a function defined in an interactive session or a notebook"
    else:
        try:
            pickle.dumps(function)
        except Exception as error:
            problem = f"an object that cannot be pickled ({type(error).__name__}: {error})"
    if problem:
        raise TypeError(
            f"The function to run, {_name_of(function)}, is {problem}: the processes started with start method "
            f"{start_method!r} are fresh interpreters, which find a function by its module and name. Define it at the "
            "top level of a module (a .py file; from a notebook, a file next to it that you import) and pass that "
            "function. start_method='fork' accepts any function, but only from a fresh, single-threaded parent."
        )


def _launched_by_torchrun() -> bool:
    return all(name in os.environ for name in (*_TORCHRUN_VARIABLES, "LOCAL_RANK"))


class Parallel:
    """Run a training function on one process, on processes it spawns, or on those torchrun started.

    ``with Parallel(...) as parallel: parallel.run(fn, *args, **kwargs)`` calls ``fn(local_rank, *args,
    **kwargs)`` in every process of the job:

    - ``backend=None``: in this process, without a process group.
    - ``backend`` and ``nproc_per_node``: in ``nproc_per_node`` new processes (start method spawn,
      so ``fn`` must be importable), on 127.0.0.1 for one machine, or, with ``nnodes``,
      ``node_rank``, ``master_addr`` and ``master_port``, as this machine's share of a multi-machine
      job (run the same script on every machine with its ``node_rank``).
    - ``backend`` alone, in a process started by torchrun (or ``srun``): the process joins the group
      torchrun describes when the ``with`` block starts and leaves it when the block ends.
    - ``backend`` alone, with no launcher: this one process forms a group of one.

    A failing spawned rank is reported with its own exception and traceback (:class:`RankRaisedError`)
    and the other processes are stopped; a rank that dies without a word (``os._exit``, killed,
    segfault) is named with its exit status or signal (``ProcessExitedException``), not its peer
    that lost the connection next. ``timeout`` (seconds or a timedelta, in ``spawn_kwargs``;
    **10 minutes** by default, where torch's own default is 30 minutes) bounds every collective: a
    rank left waiting for a dead or stuck peer raises instead of hanging, and the launcher names the
    ranks that never reached the collective. Pass a longer one if a rank legitimately keeps the
    others waiting longer (e.g. a download behind :class:`one_rank_first`).

    Example (``train.py``, run as ``python train.py`` or ``torchrun --nproc-per-node=2 train.py``)::

        import ember.distributed as idist

        def training(local_rank, config):
            ...

        if __name__ == "__main__":
            with idist.Parallel(backend="gloo") as parallel:
                parallel.run(training, {"lr": 0.1})

    >>> with Parallel() as parallel:
    ...     parallel.run(lambda local_rank, word: f"{word} from {local_rank}", "hello")
    'hello from 0'
    """

    def __init__(
        self,
        backend: str | None = None,
        nproc_per_node: int | None = None,
        nnodes: int | None = None,
        node_rank: int | None = None,
        master_addr: str | None = None,
        master_port: int | None = None,
        init_method: str | None = None,
        **spawn_kwargs: Any,
    ) -> None:
        unknown = sorted(set(spawn_kwargs) - {"start_method", "timeout"})
        if unknown:
            raise TypeError(
                f"Parallel got unknown options {unknown}. It takes backend, nproc_per_node, nnodes, node_rank, "
                "master_addr, master_port, init_method, start_method and timeout."
            )
        self.start_method: str = spawn_kwargs.get("start_method", "spawn")
        _check_start_method(self.start_method)
        self.timeout = _as_timedelta(spawn_kwargs.get("timeout")) or _DEFAULT_TIMEOUT
        spawn_options = {
            "nproc_per_node": nproc_per_node,
            "nnodes": nnodes,
            "node_rank": node_rank,
            "master_addr": master_addr,
            "master_port": master_port,
        }
        given = {name: value for name, value in spawn_options.items() if value is not None}
        if backend is None:
            if given or init_method is not None:
                raise ValueError(
                    f"Parallel got {sorted(given) or ['init_method']} without a backend: with backend=None it runs "
                    "one process without a process group. Pass backend='gloo' (CPU) or 'nccl' (GPUs) to start or "
                    "join a group."
                )
        else:
            _check_backend(backend)
        for name in ("nproc_per_node", "nnodes"):
            if spawn_options[name] is not None:
                _positive_integer(name, spawn_options[name])
        self.backend = backend
        self.nproc_per_node = nproc_per_node
        self.nnodes = nnodes
        self.node_rank = node_rank
        self.master_addr = master_addr
        self.master_port = master_port
        self.init_method = init_method
        if backend is None:
            self.mode = "serial"
        elif _launched_by_torchrun() or _under_slurm_tasks():
            self._check_against_launcher(given)
            self.mode = "join"
        elif nproc_per_node is not None:
            self.mode = "spawn"
        elif given:
            raise ValueError(
                f"Parallel got {sorted(given)} but no nproc_per_node, and the script was not started by torchrun: "
                "pass nproc_per_node to spawn processes here, or launch with torchrun."
            )
        else:
            self.mode = "single"
        self._joined = False

    def _check_against_launcher(self, given: Mapping[str, Any]) -> None:
        if _under_slurm_tasks():
            environment = _slurm_environment()
            local_world = os.environ.get("SLURM_NTASKS_PER_NODE")
            node = os.environ.get("SLURM_NODEID")
        else:
            environment = dict(os.environ)
            local_world = os.environ.get("LOCAL_WORLD_SIZE")
            node = os.environ.get("GROUP_RANK")
        world = int(environment["WORLD_SIZE"])
        launcher = {
            "nproc_per_node": int(local_world) if local_world else None,
            "nnodes": world // int(local_world) if local_world else None,
            "node_rank": int(node) if node is not None else None,
            "master_addr": environment["MASTER_ADDR"],
            "master_port": int(environment["MASTER_PORT"]),
        }
        for name, value in given.items():
            if launcher[name] is not None and launcher[name] != value:
                raise ValueError(
                    f"Parallel got {name}={value!r}, but the launcher that started this process (torchrun or srun) "
                    f"set {name}={launcher[name]!r}. Leave {name} out under a launcher (it describes the job), or "
                    "run the script with python to let Parallel spawn the processes."
                )

    def __enter__(self) -> Parallel:
        if self.mode == "join":
            initialize(self.backend, timeout=self.timeout, init_method=self.init_method)
            self._joined = True
        elif self.mode == "single":
            assert self.backend is not None
            initialize(
                self.backend,
                timeout=self.timeout,
                init_method=self.init_method or f"tcp://127.0.0.1:{_free_port()}",
                rank=0,
                world_size=1,
            )
            self._joined = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._joined:
            self._joined = False
            finalize()

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(local_rank, *args, **kwargs)`` on every process of the job.

        Returns ``fn``'s value in this process, or, when processes were spawned, the list of their
        values in local-rank order.
        """
        if not callable(fn):
            raise TypeError(f"Parallel.run needs a callable fn(local_rank, *args), got {type(fn).__name__}.")
        if self.mode == "spawn":
            assert self.backend is not None and self.nproc_per_node is not None
            return _spawn_ignite(
                self.backend,
                fn,
                args,
                kwargs_dict=kwargs,
                nproc_per_node=self.nproc_per_node,
                nnodes=self.nnodes or 1,
                node_rank=self.node_rank or 0,
                master_addr=self.master_addr,
                master_port=self.master_port,
                init_method=self.init_method,
                start_method=self.start_method,
                timeout=self.timeout,
            )
        if self.mode != "serial" and not self._joined:
            raise RuntimeError(
                "Parallel.run was called outside its with block, so no process group was joined. Write "
                "`with Parallel(backend=...) as parallel: parallel.run(fn)`."
            )
        if self.mode == "join":
            from torch.distributed.elastic.multiprocessing.errors import record

            # record() writes this rank's traceback where torchrun looks for the root cause of a failed job
            return record(fn)(get_local_rank(), *args, **kwargs)
        return fn(get_local_rank() if self.mode != "serial" else 0, *args, **kwargs)
