"""auto_dataloader's sampler under 2 real gloo ranks is a torch DistributedSampler with ignite's indices."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DistributedSampler

import ember.distributed as idist
from ember.data import ResumableSampler

TIMEOUT = 90


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("sampler_workers")


@given(
    length=st.integers(0, 40),
    replicas=st.integers(1, 5),
    seed=st.integers(0, 2**31),
    epoch=st.integers(0, 30),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
@settings(max_examples=120, deadline=None)
def test_each_rank_yields_what_torchs_distributed_sampler_yields(
    length: int, replicas: int, seed: int, epoch: int, shuffle: bool, drop_last: bool
) -> None:
    """Same seed, epoch and options: the same indices, lengths and sizes as torch's, on every rank."""
    for rank in range(replicas):
        options = {"num_replicas": replicas, "rank": rank, "shuffle": shuffle, "seed": seed, "drop_last": drop_last}
        reference = DistributedSampler(range(length), **options)  # type: ignore[arg-type]
        reference.set_epoch(epoch)
        sampler = ResumableSampler(length, **options)  # type: ignore[arg-type]
        sampler.set_epoch(epoch)
        assert isinstance(sampler, DistributedSampler)
        assert list(sampler) == list(reference)
        assert (len(sampler), sampler.num_samples, sampler.total_size) == (
            len(reference),
            reference.num_samples,
            reference.total_size,
        )
        assert sampler.epoch == reference.epoch == epoch


def test_resuming_mid_pass_keeps_torchs_order() -> None:
    reference = DistributedSampler(range(13), num_replicas=3, rank=1, seed=4)  # type: ignore[arg-type]
    reference.set_epoch(2)
    sampler = ResumableSampler(13, num_replicas=3, rank=1, seed=4)
    sampler.set_pass(2, start=3)
    assert list(sampler) == list(reference)[3:]


def test_proxy_sampler_is_a_distributed_sampler_too() -> None:
    proxy = idist.DistributedProxySampler(torch.utils.data.SequentialSampler(range(5)), num_replicas=2, rank=1)
    assert isinstance(proxy, DistributedSampler)
    assert (proxy.num_replicas, proxy.rank, proxy.shuffle, proxy.total_size, proxy.num_samples) == (2, 1, False, 6, 3)


@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "batch_size", "options"),
    [
        (10, 4, {}),  # shuffled by default under a process group, as ignite
        (11, 4, {"shuffle": False}),  # an odd length: the first index repeats on rank 1
        (11, 4, {"drop_last": True}),  # drop_last reaches the DataLoader, not the sampler, in both
    ],
)
def test_two_ranks_see_ignites_indices_every_epoch(
    workers: Any, size: int, batch_size: int, options: dict[str, Any]
) -> None:
    """2 gloo ranks, ignite's and ember's auto_dataloader, 3 epochs.

    With a handler calling ``sampler.set_epoch(epoch - 1)`` (ignite's examples do), every epoch is the
    same in both. Without one, the first epoch is the same; ignite then repeats it, while ember's
    engine moves the sampler to the next epoch (torch's order for that epoch), as documented.
    """
    epochs = 3
    results = idist.spawn(workers.orders, nprocs=2, args=(size, batch_size, epochs, options), timeout=TIMEOUT)
    assert len(results) == 2
    for result in results:
        for set_epoch in (False, True):
            ignite, ember = result["ignite", set_epoch], result["ember", set_epoch]
            assert ember["distributed_sampler"] is ignite["distributed_sampler"] is True
            assert ember["attributes"] == ignite["attributes"]
            assert ember["len"] == ignite["len"]
            assert ember["epochs"][0] == ignite["epochs"][0]
        assert result["ember", True]["epochs"] == result["ignite", True]["epochs"]
        # without a handler: ember's later epochs are torch's order for epochs 1 and 2 (= ignite's with one)
        assert result["ember", False]["epochs"] == result["ignite", True]["epochs"]
    shuffled = options.get("shuffle", True)
    first = results[0]["ignite", True]["epochs"]
    assert (first[0] != first[1]) is shuffled
