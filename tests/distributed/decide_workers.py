"""Code run in each process of the 2-process tests of decide_on_rank (importable, so spawned processes load it)."""

from __future__ import annotations

import os
from typing import Any

import torch

from ember import distributed


class NeedsTwoArguments(Exception):
    """An exception its message alone cannot rebuild."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code


def _outcome(decide: Any, rank: int = 0, group: Any = None) -> dict[str, Any]:
    """What decide_on_rank gave this rank: its value, or the type and message of what it raised."""
    try:
        value = distributed.decide_on_rank(decide, rank, group=group)
    except Exception as error:
        return {"raised": type(error).__name__, "message": str(error)}
    return {"value": value}


def decisions(local_rank: int) -> dict[str, Any]:
    """Every case in one job: success, errors of rank 0 and rank 1, an unpicklable result, a group of its own."""
    me = distributed.get_rank()

    def missing_file() -> str:
        raise FileNotFoundError(f"no checkpoint in /nowhere (pid {os.getpid()})")

    def custom() -> None:
        raise NeedsTwoArguments(7, "rank 1 refuses")

    results = {
        "success": _outcome(lambda: {"decided_by": me, "weights": torch.arange(3) * (me + 1)}),
        "rank0_raises": _outcome(missing_file),
        "rank1_raises_custom": _outcome(custom, rank=1),
        "unpicklable": _outcome(lambda: lambda: None),
        "own_group": _outcome(lambda: me * 10, rank=1, group=distributed.new_group([0, 1])),
    }
    # after every failure the ranks are still in step: a collective reached by both completes
    results["after"] = distributed.all_reduce(me + 1)
    results["value_types"] = {
        name: type(outcome.get("value")).__name__ for name, outcome in results.items() if isinstance(outcome, dict)
    }
    if "value" in results["success"]:
        results["success"]["value"]["weights"] = results["success"]["value"]["weights"].tolist()
    return results
