"""Metrics on a real 2-process gloo group: every rank gets the single-process value on the union of the shards."""

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
    results = distributed.spawn(workers.on_each_rank, nprocs=2)
    for result in results:
        assert result["values"].keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_allclose(result["values"][name], value, atol=1e-6, err_msg=name)
        assert result["engine_mean"] == pytest.approx(sum([0, 1, 10, 11, 12, 13]) / 6)
        assert result["one_sided"] == 0.5
        assert result["running"] == pytest.approx((1.0 + 11.0) / 2)
        assert "must have at least one update" in result["not_computable"]
