"""setup_common_distrib_training_handlers under 2 real gloo ranks: ignite's batches, running averages and files."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

import ember.distributed as idist

TIMEOUT = 120


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("common_workers")


@pytest.mark.distributed
@pytest.mark.slow
def test_two_ranks_reshuffle_average_and_save_as_ignite(workers: Any, tmp_path: Path) -> None:
    """Each rank sees ignite's batches every epoch (set_epoch(epoch - 1)), the same running loss; one set of files."""
    results = idist.spawn(workers.run_both, nprocs=2, args=(str(tmp_path),), timeout=TIMEOUT)
    assert len(results) == 2
    for result in results:
        assert result["ember"]["seen"] == result["ignite"]["seen"]
        assert result["ember"]["sampler_epoch"] == result["ignite"]["sampler_epoch"] == 2
        assert result["ember"]["files"] == result["ignite"]["files"] == ["training_model_12.pt", "training_model_8.pt"]
    firsts = [[first for first, _ in result["ember"]["seen"]] for result in results]
    assert firsts[0][:5] != firsts[0][5:10]  # the order changes from epoch to epoch
    assert firsts[0] != firsts[1]  # the ranks see different shards
