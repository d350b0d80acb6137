"""EarlyStopping, TimeLimit, TerminateOnNan, ThroughputMonitor and ProgressBar on a real 2-process gloo group.

One spawned group (tests/handlers/handler_rank_workers.py, bounded by a timeout) runs every scenario;
each test checks one handler's part. Every iteration runs a collective, so a rank that stopped
alone would block the other one and the run would time out instead of finishing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.distributed

WORKERS = Path(__file__).with_name("handler_rank_workers.py")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What each of the 2 ranks reported, in rank order."""
    folder = tmp_path_factory.mktemp("ranks")
    done = subprocess.run(
        [sys.executable, str(WORKERS), str(folder)], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    assert [result["rank"] for result in results] == [0, 1]
    return results


def test_early_stopping_reaches_one_decision_when_only_one_rank_would_stop(ranks: list[dict[str, Any]]) -> None:
    """Both ranks use rank 0's score: flat on rank 0 -> both stop after epoch 3 (patience 2); flat on rank 1
    only -> neither stops and both run all 8 epochs."""
    for result in ranks:
        flat_on_zero, flat_on_one = result["early_stopping"]
        assert flat_on_zero == {
            "flat_rank": 0,
            "epoch": 3,
            "iteration": 9,
            "stopped": True,
            "best_score": 1.0,
            "counter": 2,
            "scored": 3,
        }
        assert flat_on_one == {
            "flat_rank": 1,
            "epoch": 8,
            "iteration": 24,
            "stopped": False,
            "best_score": 8.0,
            "counter": 0,
            "scored": 8,
        }


def test_time_limit_on_one_rank_stops_both_at_the_same_iteration(ranks: list[dict[str, Any]]) -> None:
    assert [result["time_limit"] for result in ranks] == [3, 3]


def test_nan_on_one_rank_stops_both_at_the_same_iteration(ranks: list[dict[str, Any]]) -> None:
    assert [result["terminate_on_nan"] for result in ranks] == [3, 3]


def test_throughput_is_the_jobs(ranks: list[dict[str, Any]]) -> None:
    """Rank r's batches hold r + 1 samples: the published rate counts 4 * 1 + 4 * 2 samples."""
    rank0, rank1 = (result["throughput"] for result in ranks)
    assert (rank0["samples"], rank1["samples"]) == (4, 8)  # each process's own count
    assert rank0["global_samples"] == rank1["global_samples"] == 12
    assert rank0["samples_per_second"] == rank1["samples_per_second"] > 0  # one figure for the job


def test_only_rank_zero_draws_and_logs(ranks: list[dict[str, Any]]) -> None:
    drawn, silent = (result["progress_bar"] for result in ranks)
    assert any("5/5" in part for part in re.split(r"[\r\n]", drawn) if part.startswith("Epoch"))
    assert "done" in drawn.split("\n")
    assert silent == ""
