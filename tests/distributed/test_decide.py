"""decide_on_rank: one rank decides, every rank gets its result or its error, and no rank is left waiting."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest

from ember import distributed

HERE = Path(__file__).parent
# the process group's timeout: a rank left waiting in a broadcast fails after this, instead of hanging the suite
TIMEOUT = 60


@pytest.fixture(scope="module")
def outcomes() -> list[dict[str, Any]]:
    """Both ranks' outcomes of every case (one 2-process gloo job on 127.0.0.1)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(HERE))
        workers = importlib.import_module("decide_workers")
        return distributed.spawn(workers.decisions, nprocs=2, timeout=TIMEOUT)


def test_every_rank_gets_the_deciding_ranks_result(outcomes: list[dict[str, Any]]) -> None:
    for rank in (0, 1):
        assert outcomes[rank]["success"] == {"value": {"decided_by": 0, "weights": [0, 1, 2]}}
        assert outcomes[rank]["own_group"] == {"value": 10}  # rank 1 decided, on a group of its own


def test_an_error_on_rank_zero_is_raised_on_every_rank_with_its_type(outcomes: list[dict[str, Any]]) -> None:
    zero, one = outcomes[0]["rank0_raises"], outcomes[1]["rank0_raises"]
    assert zero["raised"] == one["raised"] == "FileNotFoundError"
    assert zero["message"].startswith("no checkpoint in /nowhere")
    assert one["message"] == f"On rank 0: {zero['message']}"


def test_an_error_that_cannot_be_rebuilt_arrives_as_a_runtime_error_naming_it(outcomes: list[dict[str, Any]]) -> None:
    assert outcomes[1]["rank1_raises_custom"] == {"raised": "NeedsTwoArguments", "message": "code 7: rank 1 refuses"}
    assert outcomes[0]["rank1_raises_custom"] == {
        "raised": "RuntimeError",
        "message": "On rank 1: NeedsTwoArguments: code 7: rank 1 refuses",
    }


def test_an_unpicklable_result_is_an_error_on_every_rank(outcomes: list[dict[str, Any]]) -> None:
    for rank in (0, 1):
        assert outcomes[rank]["unpicklable"]["raised"] == "TypeError"
        assert "cannot be sent to the other ranks" in outcomes[rank]["unpicklable"]["message"]


def test_the_ranks_stay_in_step_after_the_failures(outcomes: list[dict[str, Any]]) -> None:
    assert [outcome["after"] for outcome in outcomes] == [3, 3]


def test_one_process_calls_the_function_and_raises_its_error_unchanged() -> None:
    assert distributed.decide_on_rank(lambda: [1, 2]) == [1, 2]
    with pytest.raises(ZeroDivisionError):
        distributed.decide_on_rank(lambda: 1 / 0)


@pytest.mark.parametrize("rank", [1, -1, True, "0"])
def test_a_rank_outside_the_job_is_refused(rank: Any) -> None:
    with pytest.raises(ValueError, match="ranks are 0 to 0"):
        distributed.decide_on_rank(lambda: None, rank)


def test_decide_imports_nothing_above_the_distributed_layer() -> None:
    tree = ast.parse((HERE.parents[1] / "src" / "ember" / "distributed" / "decide.py").read_text())
    modules = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    ember_modules = [name for name in modules if name.startswith("ember")]
    assert ember_modules and all(name.startswith("ember.distributed.") for name in ember_modules)
