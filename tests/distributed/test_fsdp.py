"""FSDP2 sharding (shard_model, auto_model(strategy="fsdp")): misuse, one process, and 2 real gloo ranks."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ember import distributed
from ember._torch_version import FSDP2_TORCH
from ember.distributed.auto import auto_model
from ember.distributed.sharding import default_wrap_modules, gradient_sync, is_sharded, shard_model

# A rank left waiting for a peer (a collective the other rank never reaches) raises after this many seconds.
TIMEOUT = 120
# FSDP2 (fully_shard) is public in torch 2.6; on an older torch shard_model raises (tests/test_torch_version.py)
FSDP2 = pytest.mark.requires_torch(FSDP2_TORCH, "FSDP2 sharding")


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("sharded_workers")


def test_unknown_strategy_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"strategy must be one of \['ddp', 'fsdp'\], got strategy='zero3'"):
        auto_model(nn.Linear(2, 2), strategy="zero3")


@FSDP2
def test_fsdp_on_one_process_warns_and_trains_the_model_unsharded() -> None:
    model = nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="single process .* left unsharded .* torchrun --nproc-per-node=N"):
        returned = auto_model(model, strategy="fsdp")
    assert returned is model and not is_sharded(returned)
    with pytest.warns(UserWarning, match="left unsharded"):
        assert shard_model(model) is model
    gradient_sync(model, False)  # nothing to switch off on a plain model


@FSDP2
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"wrap_classes": "Linear"}, TypeError, "wrap_classes must be a module class or a collection of them"),
        ({"wrap_classes": [int]}, TypeError, r"subclasses of torch.nn.Module, got \[<class 'int'>\]"),
        ({"wrap_classes": nn.Conv2d}, ValueError, r"None of the model's submodules is a Conv2d.*holds \['Linear'"),
        ({"mp_policy": "bf16"}, TypeError, "mp_policy must be a torch.distributed.fsdp.MixedPrecisionPolicy"),
        ({"offload_policy": True}, TypeError, "offload_policy must be a torch.distributed.fsdp.CPUOffloadPolicy"),
        ({"reshard_after_forward": 1}, TypeError, "reshard_after_forward must be True or False"),
    ],
)
def test_bad_sharding_options_are_rejected(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            shard_model(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)), **kwargs)
    with pytest.raises(TypeError, match=r"shard_model takes a torch\.nn\.Module, got str"):
        shard_model("model")  # type: ignore[arg-type]


def test_default_units_are_blocks_with_parameters_or_transformer_layers() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
            self.act = nn.ReLU()

    net = Net()
    assert default_wrap_modules(net) == [net.embed, net.layers[0], net.layers[1]]
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), num_layers=2, enable_nested_tensor=False)
    assert default_wrap_modules(encoder) == list(encoder.layers)


@FSDP2
@pytest.mark.distributed
@pytest.mark.slow
def test_fsdp_training_matches_one_process(workers: Any) -> None:
    """2 sharded ranks = 1 process on the global batch: trainer, accumulation, clipping, metric, restore_best.

    Same arithmetic, other summation order (each rank's half-batch mean, then the ranks' average; the
    clip's norm from shard norms): float32 rounding differs by ~1e-7 relative per operation, and 12
    SGD-with-momentum iterations grow that to ~1e-6, so 1e-5 bounds it with room to spare while any
    real mistake (a gradient not reduced, not divided by 2, clipped per rank) is off by > 1e-2.
    """
    results = distributed.spawn(workers.train, nprocs=2, args=(2,), timeout=TIMEOUT)
    reference = workers.train(0, 1)
    for result in results:
        assert result["sharded"] is True
        assert result["local_rows"] == 8  # the first Linear(8, 16)'s weight: 16 rows, 8 on each rank
        assert result["losses"] == pytest.approx(reference["losses"], rel=1e-5)
        for name, tensor in reference["final"].items():
            torch.testing.assert_close(result["final"][name], tensor, rtol=1e-5, atol=1e-6)
        # restore_best put back the weights of epoch 2, the best score, exactly
        for name, tensor in result["epoch_weights"][1].items():
            assert torch.equal(result["final"][name], tensor)
        assert not torch.equal(result["epoch_weights"][2]["0.weight"], result["epoch_weights"][1]["0.weight"])
    assert all(torch.equal(results[0]["final"][name], results[1]["final"][name]) for name in reference["final"])
