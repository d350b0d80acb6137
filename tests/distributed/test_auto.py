"""auto_model, auto_optim, auto_dataloader and DistributedProxySampler in one process (2 ranks: test_distributed)."""

from __future__ import annotations

import pytest
import torch

import ember.distributed as idist
from ember.data import ResumableDataLoader, ResumableSampler
from ember.distributed import auto as auto_module


def test_auto_model_in_one_process_moves_to_the_device_without_wrapping() -> None:
    net = torch.nn.Linear(3, 1)
    prepared = idist.auto_model(net)
    assert prepared is net
    assert next(prepared.parameters()).device.type == idist.device().type
    with pytest.warns(UserWarning, match=r"options \['find_unused_parameters'\], which one process does not use"):
        idist.auto_model(torch.nn.Linear(3, 1), find_unused_parameters=True)


def test_model_strategies_are_a_registry_other_modules_plug_into() -> None:
    calls: list[tuple[str, bool, dict[str, object]]] = []

    def tagged(model: torch.nn.Module, sync_bn: bool = False, **options: object) -> torch.nn.Module:
        calls.append((type(model).__name__, sync_bn, options))
        return torch.nn.Sequential(model)

    idist.register_model_strategy("tagged-for-test", tagged)
    try:
        assert "tagged-for-test" in idist.model_strategies() and "ddp" in idist.model_strategies()
        wrapped = idist.auto_model(torch.nn.Linear(2, 2), sync_bn=True, strategy="tagged-for-test", level=3)
        assert isinstance(wrapped, torch.nn.Sequential)
        assert calls == [("Linear", True, {"level": 3})]
    finally:
        del auto_module._STRATEGIES["tagged-for-test"]
    with pytest.raises(TypeError, match="needs a non-empty string name"):
        idist.register_model_strategy("", tagged)


def test_auto_dataloader_in_one_process_is_a_resumable_data_loader_with_ignite_options() -> None:
    loader = idist.auto_dataloader(list(range(10)), batch_size=4, num_workers=0, shuffle=True, seed=7)
    assert isinstance(loader, ResumableDataLoader) and isinstance(loader.sampler, ResumableSampler)
    assert loader.batch_size == 4 and len(loader) == 3
    assert loader.pin_memory is (idist.device().type == "cuda")
    first = [batch.tolist() for batch in loader]
    second = [batch.tolist() for batch in loader]
    assert first != second  # a new order every pass, with nobody calling set_epoch
    assert sorted(i for batch in first for i in batch) == list(range(10))
    plain = idist.auto_dataloader(list(range(4)), batch_size=2)
    assert [batch.tolist() for batch in plain] == [[0, 1], [2, 3]]  # one process: not shuffled unless asked


def test_auto_dataloader_keeps_a_given_sampler_and_an_iterable_dataset() -> None:
    sampler = torch.utils.data.SequentialSampler(range(5))
    loader = idist.auto_dataloader(list(range(5)), sampler=sampler, batch_size=5)
    assert loader.sampler is sampler and [batch.tolist() for batch in loader] == [[0, 1, 2, 3, 4]]

    class Stream(torch.utils.data.IterableDataset[int]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(range(3))

    assert [batch.tolist() for batch in idist.auto_dataloader(Stream(), batch_size=2)] == [[0, 1], [2]]


def test_proxy_sampler_shards_another_sampler_and_passes_the_epoch_on() -> None:
    inner = ResumableSampler(7, seed=2, num_replicas=1, rank=0)
    shards = [idist.DistributedProxySampler(inner, num_replicas=2, rank=rank) for rank in (0, 1)]
    for shard in shards:
        shard.set_epoch(3)
    drawn = [list(shard) for shard in shards]
    order = inner.shard(3).tolist()
    padded = order + order[:1]
    assert drawn == [padded[0::2], padded[1::2]]
    assert [len(shard) for shard in shards] == [4, 4]
    with pytest.raises(ValueError, match="rank must be from 0 to 1, got rank=2"):
        idist.DistributedProxySampler(inner, num_replicas=2, rank=2)


def test_ignite_module_paths_hold_the_same_objects() -> None:
    """ignite code imports from ignite.distributed.{utils,launcher,auto}: the same objects live there."""
    from ember.distributed import auto, launcher, utils

    assert launcher.Parallel is idist.Parallel
    assert auto.auto_model is idist.auto_model and auto.DistributedProxySampler is idist.DistributedProxySampler
    for name in utils.__all__:
        assert getattr(utils, name) is getattr(idist, name), name
