"""ignite's long-tail metrics on a real 2-process gloo group: every rank gets the one-process value on the union.

One spawn covers every metric (starting two processes dominates the time). The shards are uneven
(11 and 18 rows, in batches of 4 and 5), so the sums, counts, kept rows and per-batch estimates of
the two ranks differ in size.
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
    return importlib.import_module("more_metrics_workers")


@pytest.mark.distributed
def test_every_rank_gets_the_single_process_value_on_the_union(workers: Any) -> None:
    results = distributed.spawn(workers.on_each_rank, nprocs=2, timeout=120)
    batch_wise = set(workers.BATCH_WISE)
    # Per-batch estimates (HSIC, MMD) average the batches each rank saw: compare with one process
    # fed the same batches (rank 0's then rank 1's), not the same rows in other batches.
    expected = workers.run(slice(0, workers.SIZE), batch_size=6)
    expected.update(workers.run_as_ranks_batch(sorted(batch_wise)))
    assert len(expected) >= 36
    empty_names = ["MutualInformation", "SelectionRate multilabel", "SubgroupMetric"]
    empty_rank = workers.run(slice(workers.SHARD_END, workers.SHARD_END + 9), 4, empty_names)
    frequencies = [values.pop("Frequency on both ranks") for values in results]
    assert frequencies[0] == frequencies[1] and frequencies[0][0] == frequencies[0][1] > 0
    for rank, values in enumerate(results):
        np.testing.assert_allclose(
            values.pop("MutualInformation, empty rank 0")["MutualInformation"],
            empty_rank["MutualInformation"],
            rtol=1e-6,
        )
        assert values.keys() == expected.keys()
        for name, value in expected.items():
            if isinstance(value, dict):
                assert values[name].keys() == value.keys(), name
                for key in value:
                    np.testing.assert_allclose(values[name][key], value[key], rtol=1e-5, atol=1e-5, err_msg=name)
            else:
                np.testing.assert_allclose(values[name], value, rtol=1e-5, atol=1e-5, err_msg=f"{name} rank {rank}")
