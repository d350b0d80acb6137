"""ember.distributed (ignite's idist): the serial fallback, and real 2-process gloo groups started by Parallel/torchrun."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.multiprocessing.spawn import ProcessExitedException

import ember.distributed as idist
from ember.handlers import EventSyncCheck

# Every multi-process call gets this timeout: a rank left waiting for a peer raises instead of hanging the suite.
TIMEOUT = 60


# --------------------------------------------------------------------------- one process


def test_serial_fallback_is_one_process_of_rank_zero() -> None:
    assert (idist.get_rank(), idist.get_world_size(), idist.get_local_rank()) == (0, 1, 0)
    assert (idist.get_nproc_per_node(), idist.get_nnodes(), idist.get_node_rank()) == (1, 1, 0)
    assert idist.is_distributed() is False
    assert idist.get_backend() is None and idist.backend() is None
    assert idist.model_name() == "serial"
    assert idist.device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert "gloo" in idist.available_backends()
    assert idist.hostname()


def test_serial_collectives_return_their_input_as_ignite_does() -> None:
    """Numbers stay numbers, objects come back in a one-element list, tensors are not aliased."""
    value = torch.tensor([1.0, 2.0])
    reduced = idist.all_reduce(value)
    reduced += 1
    assert value.tolist() == [1.0, 2.0]
    assert idist.all_reduce(3) == 3 and type(idist.all_reduce(3)) is int
    assert idist.all_reduce(2.5, op="MAX") == 2.5
    assert idist.all_reduce(3, op="MEAN") == 3.0 and type(idist.all_reduce(3, op="MEAN")) is float
    assert idist.all_gather(torch.tensor(5)).tolist() == [5]
    assert idist.all_gather(torch.ones(2, 3)).shape == (2, 3)
    assert idist.all_gather(3) == [3] and idist.all_gather("ab") == ["ab"] and idist.all_gather({"a": 1}) == [{"a": 1}]
    payload = {"a": [1, 2]}
    assert idist.broadcast(payload) is payload and idist.broadcast_object(payload) is payload
    assert idist.broadcast(5) == 5 and idist.broadcast("x", safe_mode=True) == "x"
    assert idist.new_group([0]) == [0]
    assert idist.all_reduce(torch.tensor([2.0]), group=[0]).tolist() == [2.0]
    idist.barrier()
    idist.finalize()

    @idist.one_rank_only(with_barrier=True)
    def work() -> str:
        return "done"

    assert work() == "done"


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: idist.all_reduce([1, 2]), TypeError, "all_reduce takes a torch.Tensor or a number, got list"),
        (lambda: idist.all_reduce(torch.ones(1), op="AVG"), ValueError, r"op must be one of .*'MEAN'.* got op='AVG'"),
        (lambda: idist.broadcast(1, src=1), ValueError, "src must be a rank between 0 and 0, got src=1"),
        (lambda: idist.broadcast(None), ValueError, "broadcast got None on the source rank"),
        (lambda: idist.broadcast_object(1, src=1), ValueError, "src must be a rank between 0 and 0, got src=1"),
        (lambda: idist.new_group([0, 3]), ValueError, r"ranks \[3\] outside the world of 1"),
        (lambda: idist.all_reduce(1, group="all"), TypeError, "group=None, a process group .* got str"),
        (lambda: idist.one_rank_only(rank=2)(print)(), ValueError, "world of 1 process.*no rank 2"),
        (lambda: idist.spawn(print, 0), ValueError, "positive integer number of processes, got nprocs=0"),
        (lambda: idist.spawn(3, 2), TypeError, "spawn needs a callable"),
        (lambda: idist.spawn(print, 2, start_method="thread"), ValueError, "got start_method='thread'"),
        (lambda: idist.spawn(print, 2, backend="tcp"), ValueError, "backend must be one of .* got backend='tcp'"),
        (lambda: idist.spawn("gloo", print, (), nproc_per_node=2, nnodes=2), ValueError, "needs master_addr"),
        (lambda: idist.Parallel("gloo", nproc_per_node=0), ValueError, "nproc_per_node must be a positive integer"),
        (lambda: idist.Parallel("gloo", nproc_per_node=-2), ValueError, "got nproc_per_node=-2"),
        (lambda: idist.Parallel(nproc_per_node=2), ValueError, r"without a backend.*backend='gloo'"),
        (lambda: idist.Parallel("gloo", nnodes=2), ValueError, "no nproc_per_node"),
        (lambda: idist.Parallel("gloo", nproc_per_node=2, threads=3), TypeError, r"unknown options \['threads'\]"),
        (lambda: idist.Parallel("gloo", timeout=0), ValueError, "timeout must be a datetime.timedelta or a positive"),
        (lambda: idist.Parallel().run(3), TypeError, "Parallel.run needs a callable"),
        (lambda: idist.Parallel("gloo").run(print), RuntimeError, "outside its with block"),
        (lambda: idist.auto_model("net"), TypeError, "auto_model takes a torch.nn.Module, got str"),
        (lambda: idist.auto_model(torch.nn.Linear(1, 1), strategy="zero"), ValueError, "strategy must be one of"),
        (lambda: idist.auto_optim(torch.nn.Linear(1, 1)), TypeError, "auto_optim takes a torch.optim.Optimizer"),
        (
            lambda: idist.auto_dataloader([1, 2], sampler=[0, 1], shuffle=True),
            ValueError,
            "got a sampler and shuffle=True",
        ),
        (lambda: EventSyncCheck(events=[]), ValueError, "at least one event"),
    ],
)
def test_bad_arguments_are_rejected(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_auto_optim_refuses_horovod_options() -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"options \['compression'\].*Horovod"):
        idist.auto_optim(optimizer, compression=None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is about machines without a GPU")
def test_nccl_without_gpu_says_to_use_gloo() -> None:
    for call in (lambda: idist.Parallel("nccl", nproc_per_node=2), lambda: idist.initialize("nccl")):
        with pytest.raises(ValueError, match=r"needs CUDA GPUs.*Use backend='gloo'"):
            call()


def test_initialize_outside_a_launcher_says_how_to_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        RuntimeError, match=r"RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT are not set. Launch .* torchrun"
    ):
        idist.initialize()


def test_parallel_arguments_that_contradict_torchrun_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun's variables, Parallel must not spawn a different job than the one torchrun started."""
    launched = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "0"}
    for name, value in {**launched, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=r"got nproc_per_node=4, but the launcher .* set nproc_per_node=2"):
        idist.Parallel("gloo", nproc_per_node=4)
    with pytest.raises(ValueError, match="got master_port=1234"):
        idist.Parallel("gloo", master_port=1234)
    assert idist.Parallel("gloo", nproc_per_node=2).mode == "join"  # agreeing values are fine


def test_parallel_without_backend_runs_here_and_with_one_forms_a_group_of_one() -> None:
    with idist.Parallel() as parallel:
        assert parallel.run(lambda local_rank, a, b=0: (local_rank, a + b, idist.is_distributed()), 1, b=2) == (
            0,
            3,
            False,
        )
    with idist.Parallel(backend="gloo", timeout=TIMEOUT) as parallel:
        found = parallel.run(lambda local_rank: (idist.backend(), idist.get_world_size(), idist.get_local_rank()))
    assert found == ("gloo", 1, 0)
    assert not idist.is_distributed()


def test_a_task_started_by_srun_joins_with_slurm_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under srun (SLURM_* set, torchrun's variables not), initialize derives the group from SLURM's variables."""
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)  # restored to absent afterwards, whatever initialize sets
    slurm = {
        "SLURM_JOB_ID": "4321",
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "1",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NNODES": "1",
        "SLURM_TASKS_PER_NODE": "1",
        "SLURM_JOB_NODELIST": "localhost",
        "MASTER_PORT": str(idist.launch._free_port()),
    }
    for name, value in slurm.items():
        monkeypatch.setenv(name, value)
    assert idist.Parallel(backend="gloo").mode == "join"
    idist.initialize("gloo", timeout=TIMEOUT)
    try:
        assert (os.environ["MASTER_ADDR"], os.environ["RANK"], os.environ["WORLD_SIZE"]) == ("localhost", "0", "1")
        assert (idist.get_rank(), idist.get_world_size(), idist.get_local_rank()) == (0, 1, 0)
        assert (idist.get_nproc_per_node(), idist.get_nnodes(), idist.get_node_rank()) == (1, 1, 0)
        assert idist.backend() == "gloo" and idist.model_name() == "native-dist"
    finally:
        idist.finalize()


def test_slurm_node_list_first_host() -> None:
    from ember.distributed.launch import _slurm_first_host

    assert _slurm_first_host("gpu[03-05,07],cpu1") == "gpu03"
    assert _slurm_first_host("node7") == "node7"
    assert _slurm_first_host("n[1,4]") == "n1"


# --------------------------------------------------------------------------- two processes


def import_workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    return importlib.import_module("distributed_workers")


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    return import_workers(monkeypatch)


# size, global batch, epochs of the 2-rank training run that two tests compare with
TRAINING = (48, 8, 4)


@pytest.fixture(scope="module")
def two_rank_training() -> list[dict[str, Any]]:
    """What each rank of one 2-rank training run returned (workers.train with TRAINING), computed once."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_two(import_workers(monkeypatch).train, *TRAINING)


def run_two(function: Any, *args: Any) -> list[Any]:
    with idist.Parallel(backend="gloo", nproc_per_node=2, timeout=TIMEOUT) as parallel:
        results: list[Any] = parallel.run(function, *args)
    return results


@pytest.mark.distributed
def test_two_process_collectives_match_ignite(workers: Any) -> None:
    """Every collective gives each rank the same, correct value, of ignite's type; inputs are untouched."""
    results = run_two(workers.collectives, 5)
    for rank, result in enumerate(results):
        assert result["topology"] == [rank, rank, 2, 2, 1, 0, rank]
        assert result["names"] == ["cpu", "gloo", "gloo", "native-dist", True]
        assert result["reduced"] == {
            "SUM": [11, 19],
            "PRODUCT": [30, 90],
            "MIN": [5, 9],
            "MAX": [6, 10],
            "sum": [11, 19],
        }
        assert result["mean"] == [1.5, 4.0]
        assert result["mean_int"] == 2.5
        assert result["number_sum"] == 3 and type(result["number_sum"]) is int
        assert result["number_max"] == 1.5
        assert result["input_after"] == [5 + rank, 10 - rank]
        assert result["bool_max"] == [True]
        assert result["gathered"] == [[0.0, 1.0], [10.0, 11.0], [12.0, 13.0]]
        assert result["gathered_scalar"] == [0, 3]
        assert result["gathered_empty"] == 1
        assert result["gathered_numbers"] == [0.5, 1.5]
        assert result["gathered_strings"] == ["ab", "abab"]
        assert result["gathered_objects"] == [{"rank": 0}, {"rank": 1}]
        assert result["group_sum"] == [2.0] and result["group_list_sum"] == 4
        assert result["alone_sum"] == [rank + 5]  # rank 1 alone: its own value; rank 0 is outside the group
        assert result["broadcast_tensor"] == [1.5, 7.0]
        assert result["broadcast_safe"] == [1.5, 2.5]
        assert result["broadcast_number"] == 11 and result["broadcast_string"] == "from 0"
        assert result["broadcast_object"] == {"from": 1, "items": [1]}
        assert result["broadcast_object_old"] == {"from": 0}
        assert result["one_rank_only"] == ("ran" if rank == 1 else None)
        assert result["one_rank_first"] == [f"rank {rank} done"]
        assert result["ddp_kwargs_without_gpu"] == "DistributedDataParallel"
        assert "sync_bn=True on CPU processes" in result["sync_bn_on_cpu"]
        assert "match in every dimension but the first, got shapes [[2, 2], [2, 3]]" in result["mismatched_gather"]


@pytest.mark.distributed
@pytest.mark.slow
def test_the_failing_rank_is_reported_every_time(workers: Any) -> None:
    """6 launches, 3 per failing rank: the rank that raised is named with its own exception and traceback, never its
    peer's (whose collective fails once the raising rank has gone, after that rank has reported)."""
    for repetition in range(6):
        failing = repetition % 2
        started = time.monotonic()
        with pytest.raises(idist.RankRaisedError) as caught:
            run_two(workers.fails_on_rank, failing)
        error = caught.value
        assert (error.rank, error.exception_type) == (failing, "KeyError"), str(error)
        assert error.exception_message == f"'rank {failing} broke'"
        assert 'in fails_on_rank\n    raise KeyError(f"rank {failing} broke")' in error.remote_traceback
        assert str(error).startswith(f"Rank {failing} (pid {error.pid}) raised KeyError: 'rank {failing} broke'")
        assert time.monotonic() - started < TIMEOUT


@pytest.mark.distributed
@pytest.mark.slow
def test_a_status_the_ranks_exit_with_becomes_the_launcher_status(workers: Any) -> None:
    """PreemptionHandler exits every rank with 75: the process that spawned them exits with 75 too."""
    with pytest.raises(SystemExit) as caught:
        run_two(workers.exits_with, 75)
    assert caught.value.code == 75


@pytest.mark.distributed
@pytest.mark.slow
def test_mismatched_collective_is_an_error_not_a_hang(workers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tensors of different sizes in one all_reduce: a clear error with torch's checks on, a timeout without."""
    monkeypatch.setenv("TORCH_DISTRIBUTED_DEBUG", "DETAIL")
    with pytest.raises(idist.RankRaisedError, match=r"Detected mismatch between collectives.*shapes: (2vs 1|1vs 2)"):
        run_two(workers.mismatched_reduce)
    monkeypatch.delenv("TORCH_DISTRIBUTED_DEBUG")
    started = time.monotonic()
    parallel = idist.Parallel(backend="gloo", nproc_per_node=2, timeout=5)
    with pytest.raises((ProcessExitedException, idist.RankRaisedError)):
        parallel.run(workers.mismatched_reduce)
    assert time.monotonic() - started < TIMEOUT


@pytest.mark.distributed
@pytest.mark.slow
def test_a_rank_that_dies_without_an_exception_is_named_not_its_peer(workers: Any) -> None:
    """os._exit(3), SIGKILL, segfault, each on either rank: the dead rank with its status or signal, never its peer's
    "Connection reset by peer" (the peer's report reaches the launcher first in most runs; the exit codes decide)."""
    cases = [
        (1, "exit", 3, None),
        (0, "kill", -9, "SIGKILL"),
        (1, "segfault", -11, "SIGSEGV"),
        (0, "exit", 3, None),
        (1, "kill", -9, "SIGKILL"),
        (0, "segfault", -11, "SIGSEGV"),
    ]
    for dying, how, code, signal_name in cases:
        started = time.monotonic()
        with pytest.raises(ProcessExitedException) as caught:
            run_two(workers.dies_without_a_word, dying, how)
        error = caught.value
        assert not isinstance(error, idist.RankRaisedError)
        assert (error.error_index, error.exit_code, error.signal_name) == (dying, code, signal_name), str(error)
        described = f"exited with status {code}" if signal_name is None else f"was killed by {signal_name}"
        pid = error.error_pid if hasattr(error, "error_pid") else error.pid  # torch 2.3's ProcessException: .pid
        assert str(error).startswith(f"Rank {dying} (pid {pid}) {described}"), str(error)
        assert time.monotonic() - started < TIMEOUT


@pytest.mark.distributed
@pytest.mark.slow
def test_a_rank_stuck_in_user_code_fails_the_job_within_the_timeout_and_is_named(workers: Any) -> None:
    """Rank 1 loops forever while rank 0 waits in a barrier: after timeout=4 s the job fails naming rank 1."""
    started = time.monotonic()
    parallel = idist.Parallel(backend="gloo", nproc_per_node=2, timeout=4)
    with pytest.raises(idist.RankRaisedError) as caught:
        parallel.run(workers.stuck_in_user_code, 1)
    elapsed = time.monotonic() - started
    error = caught.value
    assert error.rank == 0 and "Timed out" in error.exception_message, str(error)
    assert "Rank(s) [1] never reached that collective within the timeout of 4 s" in error.note
    assert "timeout=" in error.note and error.note in str(error)
    assert elapsed < TIMEOUT, elapsed


@pytest.mark.distributed
def test_launches_bound_collectives_by_ten_minutes_unless_told(workers: Any) -> None:
    """torch's default would be 30 minutes; the group's real timeout is read inside the ranks."""
    with idist.Parallel(backend="gloo", nproc_per_node=2) as parallel:
        assert parallel.run(workers.group_timeout) == [600.0, 600.0]
    assert idist.spawn(workers.group_timeout, 2, timeout=7) == [7.0, 7.0]
    with idist.Parallel(backend="gloo", timeout=datetime.timedelta(seconds=9)) as parallel:
        assert parallel.run(workers.group_timeout) == 9.0


@pytest.mark.distributed
def test_all_gather_of_a_tensor_and_an_object_is_an_error_on_every_rank(workers: Any) -> None:
    """Rank 0 passes a tensor, rank 1 a number: both raise the same ValueError naming the ranks and the fix."""
    messages = run_two(workers.gathers_a_tensor_and_an_object)
    assert messages[0] == messages[1]
    assert (
        "got a tensor on rank(s) [0] but a Python object on rank(s) [1] (rank 0: a tensor, rank 1: int)"
        in (messages[0])
    )
    assert "torch.tensor(value)" in messages[0]
    dtype_error, shape_error, after = run_two(workers.gathers_mismatched_tensors)[1]
    assert "one dtype on every rank, got ['torch.float32', 'torch.int64'] by rank (rank 1's torch.int64" in dtype_error
    assert "tensor.to(torch.float32)" in dtype_error
    assert "got shapes [[1, 2], [1, 3]] by rank (rank 1's [1, 3] against rank 0's [1, 2])" in shape_error
    assert after == "[0, 1]"


def test_a_function_the_spawned_processes_cannot_import_is_refused_before_launch() -> None:
    """A lambda or a nested function: a TypeError naming the problem and the fix, before any process starts."""

    def nested(local_rank: int) -> int:
        return local_rank

    parallel = idist.Parallel(backend="gloo", nproc_per_node=2, timeout=TIMEOUT)
    for function, problem in ((lambda local_rank: local_rank, "is a lambda"), (nested, "inside another function")):
        started = time.monotonic()
        with pytest.raises(TypeError, match=f"{problem}.*Define it at the top level of a module"):
            parallel.run(function)
        with pytest.raises(TypeError, match=problem):
            idist.spawn(function, 2)
        assert time.monotonic() - started < 5  # nothing was started


@pytest.mark.distributed
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the thread names from Linux's /proc")
def test_finalize_leaves_no_gloo_thread_behind_after_ddp(workers: Any) -> None:
    """The abort at exit (issue 17): a group that outlives finalize keeps its gloo threads into the interpreter's
    shutdown, where they abort the process. DistributedDataParallel imports torch.distributed.nn.functional, whose
    default arguments kept the world group alive when first imported while it existed; initialize imports it first."""
    for result in run_two(workers.native_threads_after_finalize):
        assert result["model"] == "DistributedDataParallel"
        assert result["default_group"] == "None"
        gloo = [name for name in result["threads"] if "gloo" in name or "tcpstore" in name]
        assert gloo == [], result["threads"]


@pytest.mark.distributed
def test_a_result_that_cannot_be_pickled_is_the_ranks_type_error(workers: Any) -> None:
    with pytest.raises(idist.RankRaisedError) as caught:
        run_two(workers.returns_a_closure)
    error = caught.value
    assert error.exception_type == "TypeError"
    assert "returns_a_closure returned function" in error.exception_message
    assert "cannot be sent back to the launching process" in error.exception_message
    assert "not a lambda, a function defined inside a function" in error.exception_message


@pytest.mark.distributed
@pytest.mark.slow
def test_two_ranks_train_like_one_process_with_the_same_global_batch(
    workers: Any, two_rank_training: list[dict[str, Any]]
) -> None:
    """auto_model/auto_dataloader/auto_optim on 2 ranks = 1 process with the global batch; shards are disjoint.

    Tolerance: the model is float64 and both runs take gradients of the same samples at every step;
    they differ only in summation order (two half-batch means averaged by DDP against one mean), an
    error of a few ulps (~1e-16) per step that 24 SGD steps cannot grow past 1e-12.
    """
    size, global_batch, epochs = TRAINING
    ranks = two_rank_training
    single = workers.train(0, size, global_batch, epochs)
    assert single["loader"] == ["ResumableDataLoader", 8, 6]
    assert ranks[0]["loader"] == ["ResumableDataLoader", 4, 6]
    for name, expected in single["weights"].items():
        for rank in range(2):
            assert ranks[rank]["weights"][name] == pytest.approx(expected, rel=0, abs=1e-12), name
    orders = []
    for epoch in range(epochs):
        shards = [ranks[rank]["per_epoch"][epoch] for rank in range(2)]
        assert len(shards[0]) == len(shards[1]) == size // 2
        assert not set(shards[0]) & set(shards[1])
        assert sorted(shards[0] + shards[1]) == list(range(size))
        orders.append(shards[0])
    assert len({tuple(order) for order in orders}) == epochs  # a new order every epoch
    # evaluation on 21 samples sharded 11 + 10: the metrics are the single process's, up to the float32 sums
    # that Loss, MSE and MAE keep (as pytorch-ignite's do): two partial sums added against one
    assert [ranks[rank]["evaluation"]["loaded"] for rank in range(2)] == [11, 10]
    for name in ("mse", "mae", "loss"):
        assert single["evaluation"][name] > 0.01
        for rank in range(2):
            assert ranks[rank]["evaluation"][name] == pytest.approx(single["evaluation"][name], rel=1e-6), name


@pytest.mark.distributed
@pytest.mark.slow
def test_mid_epoch_resume_under_two_ranks_is_bit_identical(
    workers: Any, two_rank_training: list[dict[str, Any]]
) -> None:
    """Stopped in the middle of epoch 2 and resumed in fresh objects: the same batches and the same weights."""
    straight = two_rank_training
    resumed = run_two(workers.train_with_resume, *TRAINING, 9)  # 6 iterations per epoch: epoch 2's third
    for rank in range(2):
        assert resumed[rank]["loaded"] == [i for epoch in straight[rank]["per_epoch"] for i in epoch]
        assert resumed[rank]["weights"] == straight[rank]["weights"]  # exact equality: bit-identical


@pytest.mark.distributed
def test_preemption_on_different_iterations_stops_both_ranks_together(workers: Any, tmp_path: Path) -> None:
    """Real SIGTERMs at iteration 3 on rank 0 and 6 on rank 1: both stop after 3, then both after 6; no hang."""
    results = run_two(workers.preempted_at_different_iterations, str(tmp_path), [3, 6])
    for result in results:
        assert result["iteration"] == 3 and result["preempted"] is True
        assert result["files"] == ["trainer_3.pt"]  # one checkpoint, written once
        assert result["second_stop"] == [6, True]  # a signal on rank 1 only stops rank 0 too
        assert result["files_after"] == ["trainer_3.pt", "trainer_6.pt"]
        assert result["continued_to"] == 20


@pytest.mark.distributed
def test_event_sync_check_reports_the_first_divergence(workers: Any) -> None:
    messages = run_two(workers.diverging_engines)
    for message in messages:
        assert "rank 0: GET_BATCH_STARTED at iteration 2, epoch 1; rank 1: TERMINATE at iteration 2, epoch 1" in message
    assert messages[0] != messages[1]  # each names itself
    checks = run_two(workers.same_events)
    # STARTED, COMPLETED, and per epoch EPOCH_STARTED/COMPLETED plus 4 events for each of 4 iterations
    assert checks[0] == checks[1] >= 2 + 2 * (2 + 4 * 4)


# --------------------------------------------------------------------------- torchrun


TORCHRUN_SCRIPT = """
import json, sys, torch
import ember.distributed as idist
from distributed_workers import train

def main(local_rank, folder):
    result = train(local_rank, 48, 8, 2)
    result["topology"] = [idist.get_rank(), idist.get_local_rank(), idist.get_world_size(),
                          idist.get_nproc_per_node(), idist.get_nnodes(), idist.get_node_rank(), local_rank]
    try:
        idist.Parallel("gloo", nproc_per_node=3)
    except ValueError as error:
        result["contradiction"] = str(error)
    with open(f"{folder}/rank{idist.get_rank()}.json", "w") as f:
        json.dump(result, f)

if __name__ == "__main__":
    with idist.Parallel(backend="gloo", timeout=60) as parallel:
        parallel.run(main, sys.argv[1])
    assert not idist.is_distributed()
"""


def torchrun(tmp_path: Path, folder: Path, *options: str) -> list[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT))
    return [sys.executable, "-m", "torch.distributed.run", *options, str(script), str(folder)]


def launch(make_commands: Callable[[], list[list[str]]]) -> list[tuple[int, str]]:
    """Start the commands ``make_commands()`` gives together, wait for each (bounded); their exit codes and outputs.

    No second try: a job that finished its work but aborted at exit ("terminate called without an active
    exception", issue 17) fails the test (benchmarks/launch_aborts.py launches 50 jobs and counts such aborts).
    """
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for command in make_commands()
    ]
    results = []
    for process in processes:
        try:
            output, _ = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append((process.returncode, output.decode()))
    return results


def read_ranks(folder: Path) -> list[dict[str, Any]]:
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in range(2)]


@pytest.mark.distributed
@pytest.mark.slow
def test_torchrun_single_node_and_two_nodes_give_the_same_weights(tmp_path: Path, workers: Any) -> None:
    """torchrun --nproc_per_node=2, then a 2-node job (two torchrun invocations, c10d rendezvous on 127.0.0.1)."""
    one_node, two_nodes = tmp_path / "one", tmp_path / "two"
    one_node.mkdir()
    two_nodes.mkdir()
    [(code, output)] = launch(lambda: [torchrun(tmp_path, one_node, "--standalone", "--nproc_per_node=2")])
    assert code == 0, output[-4000:]  # the ranks' tracebacks, when one fails
    single = read_ranks(one_node)

    def two_node_job() -> list[list[str]]:
        port = idist.launch._free_port()  # a new rendezvous port for each launch
        common = ["--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}"]
        return [torchrun(tmp_path, two_nodes, *common, f"--node_rank={node}") for node in (0, 1)]

    for code, output in launch(two_node_job):
        assert code == 0, output[-3000:]
    multi = read_ranks(two_nodes)
    for rank in range(2):
        assert single[rank]["topology"] == [rank, rank, 2, 2, 1, 0, rank]
        # on the second machine, rank 1 is local rank 0: never the global rank
        assert multi[rank]["topology"] == [rank, 0, 2, 1, 2, rank, 0]
        assert multi[rank]["weights"] == single[rank]["weights"]
        assert multi[rank]["per_epoch"] == single[rank]["per_epoch"]
        assert "got nproc_per_node=3, but the launcher" in single[rank]["contradiction"]
