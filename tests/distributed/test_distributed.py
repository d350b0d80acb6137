"""ember.distributed: the serial fallback, and real 2-process gloo groups started by spawn and torchrun."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.multiprocessing import ProcessRaisedException

from ember import distributed


def test_serial_fallback_is_one_process_of_rank_zero() -> None:
    assert (distributed.get_rank(), distributed.get_world_size(), distributed.get_local_rank()) == (0, 1, 0)
    assert distributed.is_distributed() is False
    assert distributed.get_backend() is None


def test_serial_collectives_return_their_input_without_aliasing_it() -> None:
    value = torch.tensor([1.0, 2.0])
    reduced = distributed.all_reduce(value)
    reduced += 1
    assert value.tolist() == [1.0, 2.0]
    assert distributed.all_gather(torch.tensor(5)).tolist() == [5]
    assert distributed.all_gather(torch.ones(2, 3)).shape == (2, 3)
    payload = {"a": [1, 2]}
    assert distributed.broadcast_object(payload) is payload
    distributed.barrier()
    distributed.finalize()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: distributed.all_reduce([1, 2]), TypeError, "all_reduce takes a torch.Tensor, got list"),
        (lambda: distributed.all_gather(3.0), TypeError, "all_gather takes a torch.Tensor, got float"),
        (lambda: distributed.all_reduce(torch.ones(1), op="mean"), ValueError, "op must be one of .* got op='mean'"),
        (lambda: distributed.broadcast_object(1, src=1), ValueError, "src must be a rank between 0 and 0, got src=1"),
        (lambda: distributed.spawn(print, 0), ValueError, "positive integer number of processes, got nprocs=0"),
        (lambda: distributed.spawn(3, 2), TypeError, "spawn needs a callable"),
        (lambda: distributed.spawn(print, 2, start_method="thread"), ValueError, "got start_method='thread'"),
        (lambda: distributed.spawn(print, 2, backend="tcp"), ValueError, "backend must be one of .* got backend='tcp'"),
    ],
)
def test_bad_arguments_are_rejected(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_initialize_outside_torchrun_says_how_to_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        RuntimeError, match=r"RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT are not set. Launch .* torchrun"
    ):
        distributed.initialize()


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("distributed_workers")


@pytest.mark.distributed
def test_two_process_gloo_group_collectives(workers: Any) -> None:
    """Each collective gives every rank the same, correct value; inputs are untouched."""
    results = distributed.spawn(workers.collectives, nprocs=2, args=(5,))
    for rank, result in enumerate(results):
        assert result["rank"] == result["local_rank"] == rank
        assert result["world_size"] == 2
        assert result["is_distributed"] is True
        assert result["backend"] == "gloo"
        assert result["reduced"] == {"sum": [11, 19], "product": [30, 90], "min": [5, 9], "max": [6, 10]}
        assert result["input_after"] == [5 + rank, 10 - rank]
        assert result["bool_max"] == [True]
        assert result["gathered"] == [[0.0, 1.0], [10.0, 11.0], [12.0, 13.0]]
        assert result["gathered_scalar"] == [0, 3]
        assert result["gathered_empty"] == 1
        assert result["broadcast"] == {"from": 1, "items": [1]}
        assert "match in every dimension but the first, got shapes [[2, 2], [2, 3]]" in result["mismatched_gather"]


@pytest.mark.distributed
def test_an_error_in_a_spawned_process_reaches_the_caller(workers: Any) -> None:
    with pytest.raises(ProcessRaisedException, match="rank one broke"):
        distributed.spawn(workers.fails_on_rank_one, nprocs=2)


@pytest.mark.distributed
@pytest.mark.slow
def test_initialize_under_torchrun(tmp_path: Path) -> None:
    """A real torchrun launch: initialize reads its environment and finalize leaves the group."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, torch
            from ember import distributed
            distributed.initialize()
            total = distributed.all_reduce(torch.tensor([distributed.get_rank() + 1])).item()
            result = [distributed.get_rank(), distributed.get_world_size(), distributed.get_local_rank(), total]
            distributed.finalize()
            with open({str(tmp_path)!r} + f"/rank{{result[0]}}.json", "w") as f:
                json.dump(result + [distributed.is_distributed()], f)
            """
        )
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    found = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert found == [[0, 2, 0, 3, False], [1, 2, 1, 3, False]]
