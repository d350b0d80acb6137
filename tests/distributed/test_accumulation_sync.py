"""Gradient accumulation under DDP/FSDP skips the ranks' reduction on micro-batches that do not step (2 gloo ranks)."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import ember.distributed as idist
from ember._torch_version import FSDP2_TORCH

TIMEOUT = 120
NEVER = 10**6  # no stop: the run ends by max_epochs


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("accumulation_workers")


def _run(workers: Any, *args: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each rank's result of ember's trainer and of the synced reference loop."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = idist.spawn(workers.compare, nprocs=2, args=args, timeout=TIMEOUT)
    return [result["ember"] for result in results], [result["synced"] for result in results]


def _assert_same_weights(ember: dict[str, Any], reference: dict[str, Any]) -> None:
    """float64, the same gradients summed in another order (reduced once instead of per batch): ~1e-16 per step."""
    for name, expected in reference["weights"].items():
        torch.testing.assert_close(ember["weights"][name], expected, rtol=0, atol=1e-12)


@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.parametrize(
    ("steps", "epoch_length", "stop", "ember_reductions", "synced_reductions"),
    [
        (4, 8, NEVER, 4, 16),  # 2 epochs of 2 full windows: one reduction per optimizer step
        (4, 6, NEVER, 4, 12),  # a window cut by the epoch's end reduces at the epoch's last batch
        (4, 8, 6, 1, 6),  # terminate() mid-window: the 2 unreduced batches are averaged by hand, then stepped
    ],
)
def test_ddp_accumulation_reduces_once_per_step_with_the_synced_weights(
    workers: Any, steps: int, epoch_length: int, stop: int, ember_reductions: int, synced_reductions: int
) -> None:
    ember, synced = _run(workers, "ddp", steps, 2, epoch_length, stop)
    for rank in range(2):
        _assert_same_weights(ember[rank], synced[rank])
        assert synced[rank]["reductions"] == synced_reductions
        assert ember[rank]["reductions"] == ember_reductions
    assert all(torch.equal(ember[0]["weights"][name], ember[1]["weights"][name]) for name in ember[0]["weights"])


@pytest.mark.requires_torch(FSDP2_TORCH, "FSDP2 sharding")
@pytest.mark.distributed
@pytest.mark.slow
def test_fsdp_accumulation_reduces_once_per_step_with_the_synced_weights(workers: Any) -> None:
    ember, synced = _run(workers, "fsdp", 4, 2, 8, NEVER)
    for rank in range(2):
        _assert_same_weights(ember[rank], synced[rank])
        # one reduce-scatter per sharded unit (the two Linear layers and the root) per synced backward
        assert ember[rank]["reductions"] * 4 == synced[rank]["reductions"] > 0


@pytest.mark.requires_torch(FSDP2_TORCH, "FSDP2 sharding")
@pytest.mark.distributed
@pytest.mark.slow
def test_fsdp_run_stopped_mid_window_warns_and_does_not_step_on_unreduced_gradients(workers: Any) -> None:
    """FSDP cannot reduce outside a backward: the unfinished window is dropped (as ignite drops one), with a warning."""
    results = idist.spawn(workers.fsdp_stopped_mid_window, nprocs=2, timeout=TIMEOUT)
    for result in results:
        assert any("cannot be reduced outside a backward pass" in message for message in result["warnings"])
        _assert_same_weights(result["ember"], result["synced"])
