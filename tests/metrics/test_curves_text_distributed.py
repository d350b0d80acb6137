"""The curve, kappa, ranking, text and GAN metrics on a real 2-process gloo group with uneven shards.

One spawn covers every case of ``curves_text_workers.CASES`` (starting two processes dominates the
time): each rank's value equals one process's value on the union of the shards.
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
    return importlib.import_module("curves_text_workers")


def assert_close(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list) and expected and isinstance(expected[0], list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (one, other) in enumerate(zip(actual, expected)):
            assert_close(one, other, f"{where}[{index}]")
    else:
        np.testing.assert_allclose(
            np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9, err_msg=where
        )


@pytest.mark.distributed
def test_every_rank_gets_the_single_process_value_on_the_union(workers: Any) -> None:
    expected = {name: workers.feed(name, slice(0, workers.SIZE), batch_size=5) for name in workers.CASES}
    for name in workers.RANK_1_ONLY:  # rank 0 sees nothing: the union is rank 1's rows
        expected[name] = workers.feed(name, slice(workers.SHARD_END, workers.SIZE), batch_size=5)
    shard_values = {name: workers.feed(name, slice(0, workers.SHARD_END), batch_size=5) for name in workers.CASES}
    assert any(shard_values[name] != expected[name] for name in expected)  # the shards alone give other values
    results = distributed.spawn(workers.on_each_rank, nprocs=2, timeout=180)
    for rank, result in enumerate(results):
        assert result.keys() == expected.keys()
        for name, value in expected.items():
            assert_close(result[name], value, f"{name} on rank {rank}")
