"""ResumableSampler and ResumableLoader: reproducible passes, and exact mid-epoch resume through a checkpoint."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import Engine, Events
from ember.data import ResumableDataLoader, ResumableLoader, ResumableSampler, derive_seed
from ember.handlers import Checkpoint, DiskSaver, RNGStates, resume_from_latest


class CountingDataset(torch.utils.data.Dataset[tuple[int, torch.Tensor, torch.Tensor]]):
    """Returns (index, features, target) and counts the loads made in this process."""

    def __init__(self, size: int) -> None:
        generator = torch.Generator().manual_seed(42)
        self.features = torch.randn(size, 5, generator=generator)
        self.targets = torch.randn(size, 1, generator=generator)
        self.loads = 0

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        self.loads += 1
        return index, self.features[index], self.targets[index]


@given(length=st.integers(0, 60), seed=st.integers(0, 2**31), pass_index=st.integers(0, 50), data=st.data())
@settings(max_examples=60, deadline=None)
def test_sampler_starts_a_pass_anywhere(length: int, seed: int, pass_index: int, data: st.DataObject) -> None:
    """A pass is a permutation of range(length); starting at `start` yields exactly its suffix."""
    start = data.draw(st.integers(0, length))
    sampler = ResumableSampler(length, shuffle=True, seed=seed)
    sampler.set_pass(pass_index)
    full = list(sampler)
    assert sorted(full) == list(range(length))
    sampler.set_pass(pass_index, start=start)
    assert list(sampler) == full[start:]
    assert len(sampler) == length - start


def test_passes_differ_and_repeat_with_the_seed() -> None:
    loader = ResumableLoader(list(range(20)), 5, shuffle=True, seed=1)
    passes = [[batch.tolist() for batch in loader] for _ in range(2)]
    again = ResumableLoader(list(range(20)), 5, shuffle=True, seed=1)
    assert [[batch.tolist() for batch in again] for _ in range(2)] == passes
    assert passes[0] != passes[1]
    assert sorted(index for batch in passes[1] for index in batch) == list(range(20))
    other_seed = [batch.tolist() for batch in ResumableLoader(list(range(20)), 5, shuffle=True, seed=2)]
    assert other_seed != passes[0]
    assert [batch.tolist() for batch in ResumableLoader(list(range(6)), 4)] == [[0, 1, 2, 3], [4, 5]]


def test_starting_a_pass_does_not_draw_from_the_global_generator() -> None:
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    for _ in ResumableLoader(list(range(8)), 2, shuffle=True):
        pass
    assert torch.equal(torch.rand(1), expected)


@pytest.mark.parametrize("position", [1, 5, 9])
def test_resume_skips_indices_without_loading_them(position: int) -> None:
    """Only the batches from `position` on are loaded: resume cost does not grow with the position."""
    dataset = CountingDataset(40)
    loader = ResumableLoader(dataset, batch_size=4, shuffle=True, seed=0)
    reference = [batch[0].tolist() for batch in loader]
    dataset.loads = 0
    again = ResumableLoader(dataset, batch_size=4, shuffle=True, seed=0)
    again.load_state_dict(loader.state_dict())
    resumed = [batch[0].tolist() for batch in again.iter_from(position)]
    assert resumed == reference[position:]
    assert dataset.loads == 40 - 4 * position


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: ResumableLoader(iter([1, 2]), 2), TypeError, "map-style dataset with __len__"),
        (lambda: ResumableLoader([1, 2], 2, sampler=[0, 1]), TypeError, r"sets \['sampler'\] itself"),
        (lambda: ResumableLoader([1, 2], 0), ValueError, "batch_size must be a positive integer, got 0"),
        (lambda: ResumableLoader([1, 2], 1).iter_from(3), ValueError, "between 0 and 2, got 3"),
        (lambda: ResumableLoader([1, 2], 1).iter_from(1), RuntimeError, "before any pass started"),
        (
            lambda: ResumableLoader([1, 2], 1, seed=1).load_state_dict({"passes_started": 1, "seed": 2}),
            ValueError,
            "The saved loader used seed=2, this one seed=1",
        ),
        (lambda: ResumableSampler(-1), ValueError, "length must be a non-negative integer"),
        (lambda: ResumableSampler(2.0), TypeError, r"length must be an integer \(len\(dataset\)\), got 2.0"),
        (lambda: ResumableLoader([1, 2], "2"), TypeError, "batch_size must be an integer, got '2'"),
        (lambda: ResumableLoader([1, 2], 1).iter_from(1.0), TypeError, "position must be an integer, got 1.0"),
    ],
    ids=[
        "iterable",
        "sampler",
        "batch-size",
        "position",
        "no-pass",
        "seed",
        "length",
        "length-type",
        "batch-size-type",
        "position-type",
    ],
)
def test_bad_input(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_derive_seed_is_stable() -> None:
    """Pinned value: the order of a saved run must not change between versions or platforms."""
    assert derive_seed(0, 0) == 869982173022612747
    assert derive_seed(7, 3) == 8197533589338942744
    assert len({derive_seed(seed, pass_index) for seed in range(20) for pass_index in range(20)}) == 400


# --------------------------------------------------------------------------- exact resume through a checkpoint


def build_run(num_workers: int, folder: Path) -> tuple[Engine, dict[str, Any], list[list[int]], torch.nn.Module]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = ResumableLoader(CountingDataset(22), batch_size=4, shuffle=True, seed=11, num_workers=num_workers)
    seen: list[list[int]] = []

    def step(engine: Engine, batch: list[Any]) -> float:
        indices, features, targets = batch
        seen.append(indices.tolist())
        optimizer.zero_grad()
        noise = random.random() * 1e-3 + float(numpy.random.rand()) * 1e-3
        loss = torch.nn.functional.mse_loss(model(features), targets) + noise
        loss.backward()
        optimizer.step()
        return loss.item()

    trainer = Engine(step)
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer, "data": loader, "rng": RNGStates()}
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, Checkpoint(to_save, DiskSaver(folder, require_empty=False), n_saved=1)
    )
    return trainer, to_save, seen, model


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("stop_at", [3, 6, 8, 12], ids=["mid-epoch", "epoch-end", "next-epoch", "second-pass-end"])
def test_mid_epoch_resume_is_exact(tmp_path: Path, num_workers: int, stop_at: int) -> None:
    """Stopped after `stop_at` iterations and resumed in fresh objects: same batches, bit-identical weights."""
    random.seed(0)
    numpy.random.seed(0)
    trainer, to_save, reference_seen, reference_model = build_run(num_workers, tmp_path / "reference")
    trainer.run(to_save["data"], max_epochs=3)

    random.seed(0)
    numpy.random.seed(0)
    first, first_objects, first_seen, _ = build_run(num_workers, tmp_path / "resumed")
    first.add_event_handler(Events.ITERATION_COMPLETED(once=stop_at), lambda engine: engine.terminate())
    first.run(first_objects["data"], max_epochs=3)
    assert len(first_seen) == stop_at

    # a "new process": every generator moved elsewhere, every object rebuilt
    random.seed(123)
    numpy.random.seed(123)
    second, to_load, second_seen, second_model = build_run(num_workers, tmp_path / "resumed")
    torch.manual_seed(123)
    assert resume_from_latest(to_load, tmp_path / "resumed") is not None
    second.run(to_load["data"], max_epochs=3)

    assert first_seen + second_seen == reference_seen
    for name, value in reference_model.state_dict().items():
        assert torch.equal(value, second_model.state_dict()[name]), name


def test_data_without_iter_from_is_fast_forwarded_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """A plain iterable resumes at the right batch by fetching and discarding, and the log says so."""
    seen: list[int] = []
    trainer = Engine(lambda engine, batch: seen.append(batch))
    trainer.load_state_dict(
        {"iteration": 7, "epoch": 1, "epoch_length": 10, "max_epochs": 1, "max_iters": None, "epoch_completed": False}
    )
    with caplog.at_level("INFO"):
        trainer.run(list(range(10)))
    assert seen == [7, 8, 9]
    assert "fetching and discarding 7 batches" in caplog.text


def test_engine_uses_iter_from_without_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    dataset = CountingDataset(12)
    loader = ResumableLoader(dataset, batch_size=3)
    loader.load_state_dict({"passes_started": 1, "seed": 0})
    seen: list[list[int]] = []
    trainer = Engine(lambda engine, batch: seen.append(batch[0].tolist()))
    trainer.load_state_dict(
        {"iteration": 2, "epoch": 1, "epoch_length": 4, "max_epochs": 1, "max_iters": None, "epoch_completed": False}
    )
    with caplog.at_level("INFO"):
        trainer.run(loader)
    assert seen == [[6, 7, 8], [9, 10, 11]]
    assert dataset.loads == 6
    assert "discarding" not in caplog.text


# --------------------------------------------------------------------------- sharding by rank


@given(
    length=st.integers(0, 50),
    replicas=st.integers(1, 5),
    seed=st.integers(0, 2**31),
    pass_index=st.integers(0, 20),
    drop_last=st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_shards_are_disjoint_equal_and_cover_the_pass(
    length: int, replicas: int, seed: int, pass_index: int, drop_last: bool
) -> None:
    """Each rank yields as many indices; together one pass, padded by its first indices or cut to a multiple."""
    samplers = [
        ResumableSampler(length, seed=seed, num_replicas=replicas, rank=rank, drop_last=drop_last)
        for rank in range(replicas)
    ]
    for sampler in samplers:
        sampler.set_epoch(pass_index)
    shards = [list(sampler) for sampler in samplers]
    order = ResumableSampler(length, seed=seed, num_replicas=1, rank=0).order(pass_index).tolist()
    per_rank = length // replicas if drop_last else -(-length // replicas)
    assert all(len(shard) == per_rank == sampler.num_samples for shard, sampler in zip(shards, samplers))
    interleaved = [shards[position % replicas][position // replicas] for position in range(per_rank * replicas)]
    expected = order[: per_rank * replicas] if drop_last else (order * (replicas + 1))[: per_rank * replicas]
    assert interleaved == expected  # rank r takes positions r, r + replicas, ... of the pass
    if length % replicas == 0:
        assert sorted(index for shard in shards for index in shard) == list(range(length))


@given(length=st.integers(0, 40), replicas=st.integers(1, 4), seed=st.integers(0, 2**31))
@settings(max_examples=40, deadline=None)
def test_uneven_shards_hold_every_sample_exactly_once(length: int, replicas: int, seed: int) -> None:
    shards = [
        list(ResumableSampler(length, seed=seed, num_replicas=replicas, rank=r, even=False)) for r in range(replicas)
    ]
    assert sorted(index for shard in shards for index in shard) == list(range(length))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [len(shard) for shard in shards] == [
        len(ResumableSampler(length, num_replicas=replicas, rank=r, even=False)) for r in range(replicas)
    ]


def test_each_rank_starts_its_shard_anywhere() -> None:
    sampler = ResumableSampler(23, seed=4, num_replicas=3, rank=2)
    sampler.set_epoch(5)
    full = list(sampler)
    for start in range(len(full) + 1):
        sampler.set_pass(5, start=start)
        assert list(sampler) == full[start:]


def test_a_sampler_nobody_sets_moves_to_the_next_pass_by_itself() -> None:
    """A hand-written loop gets a new order every epoch; set_epoch, when called, decides."""
    sampler = ResumableSampler(12, seed=1)
    passes = [list(sampler) for _ in range(3)]
    assert passes == [sampler.shard(index).tolist() for index in range(3)]
    assert len({tuple(p) for p in passes}) == 3
    sampler.set_epoch(0)
    assert list(sampler) == passes[0]
    sampler.set_epoch(0)
    assert list(sampler) == passes[0]


def test_resumable_data_loader_is_a_data_loader_that_resumes_anywhere() -> None:
    dataset = CountingDataset(20)
    loader = ResumableDataLoader(dataset, ResumableSampler(20, seed=2), batch_size=3)
    assert isinstance(loader, torch.utils.data.DataLoader) and len(loader) == 7
    loader.sampler.set_epoch(4)
    reference = [batch[0].tolist() for batch in loader]
    dataset.loads = 0
    again = ResumableDataLoader(dataset, ResumableSampler(20, seed=2), batch_size=3)
    again.sampler.set_epoch(4)
    assert [batch[0].tolist() for batch in again.iter_from(5)] == reference[5:]
    assert dataset.loads == 20 - 15 and len(again) == 7


def test_resumable_data_loader_state_continues_a_pass_or_starts_the_next() -> None:
    loader = ResumableDataLoader(list(range(8)), ResumableSampler(8, seed=3), batch_size=2)
    first = [batch.tolist() for batch in loader]
    second = [batch.tolist() for batch in loader]
    saved = loader.state_dict()
    assert saved == {"pass_index": 1, "started": True, "seed": 3}
    again = ResumableDataLoader(list(range(8)), ResumableSampler(8, seed=3), batch_size=2)
    again.load_state_dict(saved)
    assert [batch.tolist() for batch in again.iter_from(2)] == second[2:]
    third = [batch.tolist() for batch in again]
    assert third not in (first, second) and sorted(i for batch in third for i in batch) == list(range(8))
    with pytest.raises(ValueError, match="The saved loader used seed=3, this one seed=4"):
        ResumableDataLoader(list(range(8)), ResumableSampler(8, seed=4)).load_state_dict(saved)


def test_engine_resumes_a_resumable_data_loader_mid_epoch_without_loading_skipped_batches() -> None:
    dataset = CountingDataset(12)
    straight: list[list[int]] = []
    loader = ResumableDataLoader(dataset, ResumableSampler(12, seed=9), batch_size=3)
    Engine(lambda engine, batch: straight.append(batch[0].tolist())).run(loader, max_epochs=2)
    saved_state = {"iteration": 6, "epoch": 2, "epoch_length": 4, "max_epochs": 2, "max_iters": None}
    resumed: list[list[int]] = []
    again = ResumableDataLoader(dataset, ResumableSampler(12, seed=9), batch_size=3)
    again.load_state_dict({"pass_index": 1, "started": True, "seed": 9})
    trainer = Engine(lambda engine, batch: resumed.append(batch[0].tolist()))
    trainer.load_state_dict({**saved_state, "epoch_completed": False})
    dataset.loads = 0
    trainer.run(again)
    assert resumed == straight[6:]
    assert dataset.loads == 6


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: ResumableSampler(4, num_replicas=0), ValueError, "num_replicas must be a positive integer"),
        (lambda: ResumableSampler(4, num_replicas=2, rank=2), ValueError, "rank must be an integer from 0 to"),
        (lambda: ResumableDataLoader([1], [0]), TypeError, "sampler must be an ember.data.ResumableSampler"),
        (
            lambda: ResumableDataLoader([1], ResumableSampler(1), shuffle=True),
            TypeError,
            r"sets \['shuffle'\] itself",
        ),
        (lambda: ResumableDataLoader([1], ResumableSampler(1)).iter_from(2), ValueError, "between 0 and 1, got 2"),
    ],
    ids=["replicas", "rank", "sampler", "shuffle", "position"],
)
def test_bad_sharding_input(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()
