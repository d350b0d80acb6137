"""Metrics on a real 2-process gloo group: every rank gets the single-process value on the union of the shards.

One spawn covers everything (the start of two processes dominates the time): built-in metrics on uneven
shards, class-count metrics with one empty shard, and a custom metric written the way ignite's docs teach.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ember import distributed


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("metrics_workers")


@pytest.mark.distributed
def test_every_rank_gets_the_single_process_value_on_the_union(workers: Any) -> None:
    expected = workers.run_metrics(slice(0, workers.SIZE), batch_size=5)
    # Rank 0 sees no batch of the class-count metrics; expected: one process on all the rows.
    expected_counts = workers.feed_class_counts(slice(0, workers.SIZE))
    scores, labels, _, _ = workers.dataset()
    kept = labels != 0
    expected_custom = float(((scores.argmax(1) == labels) & kept).sum()) / int(kept.sum())
    local_examples = [int(kept[: workers.SHARD_END].sum()), int(kept[workers.SHARD_END :].sum())]
    results = distributed.spawn(workers.on_each_rank, nprocs=2)
    for rank, result in enumerate(results):
        for name, value in expected_counts.items():
            np.testing.assert_allclose(result["empty_shard"][name], value, atol=1e-9, err_msg=f"{name} rank {rank}")
        # A metric written the ignite way: the combined value, and its local state left as it was.
        assert result["custom"]["value"] == pytest.approx(expected_custom)
        assert result["custom"]["again"] == pytest.approx(expected_custom)
        assert result["custom"]["examples_after"] == local_examples[rank]
        assert result["values"].keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_allclose(result["values"][name], value, atol=1e-6, err_msg=name)
        assert result["engine_mean"] == pytest.approx(sum([0, 1, 10, 11, 12, 13]) / 6)
        assert result["one_sided"] == 0.5
        assert result["running"] == pytest.approx((1.0 + 11.0) / 2)
        assert "must have at least one update" in result["not_computable"]


@pytest.mark.distributed
def test_a_checkpoint_of_two_ranks_resumes_each_ranks_partial_sums(workers: Any) -> None:
    """Saved mid-run on 2 ranks with uneven shards, loaded on 2 fresh ranks: the uninterrupted values, exactly."""
    saved = distributed.spawn(workers.save_mid_run, nprocs=2, timeout=120)
    # Every rank's state_dict() holds both ranks' states (ignite's format); rank 0's is the checkpoint.
    for result in saved:
        per_rank = result["loss_state"]["__metric_state_per_rank"]
        assert list(result["loss_state"]) == ["__metric_state_per_rank"] and len(per_rank) == 2
        assert [entry["_num_examples"] for entry in per_rank] == [6, 8]
    resumed = distributed.spawn(workers.resume_from, nprocs=2, args=(saved[0]["checkpoint"],), timeout=120)
    single_process = workers.run_metrics(slice(0, workers.SIZE), batch_size=5)
    for rank, values in enumerate(resumed):
        uninterrupted = saved[rank]["uninterrupted"]
        assert values.keys() == uninterrupted.keys()
        for name, value in values.items():
            # The same per-rank sums, added in the same order: bit-identical, not merely close.
            assert value == uninterrupted[name], f"{name} on rank {rank}"
            if name in single_process:
                np.testing.assert_allclose(value, single_process[name], atol=1e-6, err_msg=name)
