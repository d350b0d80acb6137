"""DeterministicEngine and ignite's deterministic helpers: exact resume in the middle of an epoch, and the pieces."""

from __future__ import annotations

import io
import random
from typing import Any

import numpy
import pytest
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

import ember.engine
import ember.engine.deterministic
import ember.utils
from ember.data import ResumableLoader
from ember.engine import Engine, Events, create_supervised_trainer
from ember.engine.deterministic import (
    DeterministicEngine,
    ReproducibleBatchSampler,
    keep_random_state,
    update_dataloader,
)
from ember.utils import manual_seed

SAMPLES, BATCH = 28, 4  # 7 batches per epoch


def make_loader() -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(SAMPLES, 6, generator=generator)
    y = torch.randint(0, 3, (SAMPLES,), generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)


def make_model() -> nn.Module:
    generator = torch.Generator().manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model


def make_trainer() -> tuple[Engine, nn.Module, torch.optim.Optimizer, list[Any]]:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = create_supervised_trainer(
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        deterministic=True,
        # the loss (dropout's draws) and the batch (the data order) of every iteration
        output_transform=lambda x, y, y_pred, loss: (loss.item(), x.sum().item()),
    )
    outputs: list[Any] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: outputs.append(engine.state.output))
    return trainer, model, optimizer, outputs


def round_trip(value: Any) -> Any:
    """Through torch.save and torch.load(weights_only=True), as a checkpoint goes."""
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("saved_at", [3, 7, 10, 20])
def test_resume_in_the_middle_of_an_epoch_continues_bit_for_bit(saved_at: int) -> None:
    """Dropout, the shuffled order and the momentum all continue as in the uninterrupted run."""
    manual_seed(0)
    trainer, model, _, outputs = make_trainer()
    trainer.run(make_loader(), max_epochs=3)
    full_outputs, full_weights = outputs, [p.detach().clone() for p in model.parameters()]

    manual_seed(0)
    trainer, model, optimizer, _ = make_trainer()
    checkpoints: list[Any] = []

    @trainer.on(Events.ITERATION_COMPLETED(once=saved_at))
    def save(engine: Engine) -> None:
        checkpoints.append(
            round_trip(
                {"trainer": engine.state_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict()}
            )
        )
        engine.terminate()

    trainer.run(make_loader(), max_epochs=3)
    (checkpoint,) = checkpoints

    manual_seed(12345)  # another process, another global random state: the checkpoint decides
    random.random(), numpy.random.rand(), torch.rand(3)
    trainer, model, optimizer, outputs = make_trainer()
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    trainer.load_state_dict(checkpoint["trainer"])
    trainer.run(make_loader(), max_epochs=3)
    assert outputs == full_outputs[saved_at:]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), full_weights))


def draw_one(engine: Engine, batch: Any) -> float:
    return float(torch.rand(1))


def outputs_of(engine: Engine, data: Any, saved: dict[str, Any] | None = None) -> list[float]:
    seen: list[float] = []
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
    if saved is not None:
        engine.load_state_dict(saved)
    engine.run(data, max_epochs=2)
    return seen


@pytest.mark.parametrize(("engine_class", "exact"), [(Engine, False), (DeterministicEngine, True)])
def test_only_the_deterministic_engine_resumes_the_random_numbers(engine_class: type[Engine], exact: bool) -> None:
    """The control for the test above: a plain engine resumed mid-epoch draws other numbers."""
    data = list(range(6))
    manual_seed(0)
    whole = outputs_of(engine_class(draw_one), data)
    manual_seed(0)
    first = engine_class(draw_one)
    saved: list[Any] = []
    first.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda engine: saved.append(engine.state_dict()))
    first.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda engine: engine.terminate())
    first.run(data, max_epochs=2)
    torch.rand(5)  # the global state moves on, as in another process
    continued = outputs_of(engine_class(draw_one), data, saved[0])
    assert len(continued) == len(whole) - 4
    assert (continued == whole[4:]) is exact


class Stream:
    """Data without a length: the engine learns the epoch length when it first runs out."""

    def __iter__(self) -> Any:
        return iter([torch.full((2,), float(index)) for index in range(5)])


@pytest.mark.parametrize("kind", ["list", "unsized iterable", "resumable loader"])
def test_other_data_resumes_exactly_too(kind: str) -> None:
    """A list or an iterable is fast-forwarded to the position; a ResumableLoader starts there itself."""

    def make_data() -> Any:
        if kind == "list":
            return [torch.full((2,), float(index)) for index in range(5)]
        if kind == "unsized iterable":
            return Stream()
        return ResumableLoader(list(range(10)), batch_size=2, shuffle=True, seed=3)

    def process(engine: Engine, batch: Any) -> list[float]:
        return (batch.float() + torch.rand(2)).tolist()

    def run(saved: dict[str, Any] | None, data: Any) -> tuple[list[Any], list[dict[str, Any]]]:
        engine = DeterministicEngine(process)
        seen: list[Any] = []
        checkpoints: list[dict[str, Any]] = []
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
        engine.add_event_handler(
            Events.ITERATION_COMPLETED(once=7), lambda e: checkpoints.append(round_trip(e.state_dict()))
        )
        if saved is not None:
            engine.load_state_dict(saved)
        engine.run(data, max_epochs=3)
        return seen, checkpoints

    manual_seed(0)
    data = make_data()
    full, checkpoints = run(None, data)
    resumed_data = make_data()
    if kind == "resumable loader":
        resumed_data.load_state_dict({"passes_started": 2, "seed": 3})  # as saved beside the engine
    torch.rand(4)
    resumed, _ = run(checkpoints[0], resumed_data)
    assert resumed == full[7:]


def test_data_given_to_set_data_is_made_reproducible_too() -> None:
    replacement = [torch.full((2,), 10.0 + index) for index in range(3)]

    def run() -> tuple[list[Any], Any]:
        engine = DeterministicEngine(lambda engine, batch: (batch + torch.rand(2)).tolist())
        seen: list[Any] = []
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.set_data(replacement))
        engine.run([torch.zeros(2)] * 4, max_epochs=2)
        return seen, engine.state.dataloader

    manual_seed(0)
    first, dataloader = run()
    manual_seed(0)
    second, _ = run()
    assert first == second and [int(x) for x, _ in first] == [0, 0, 10, 11, 12, 10, 11, 12]
    assert dataloader.dataloader is replacement  # wrapped: each of its passes starts from its seed


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    def outputs(seed: int) -> list[Any]:
        manual_seed(seed)
        trainer, _, _, seen = make_trainer()
        trainer.run(make_loader(), max_epochs=2)
        return seen

    first = outputs(0)
    assert outputs(0) == first
    assert outputs(1) != first
    assert [x for _, x in first[:7]] != [x for _, x in first[7:]]  # each epoch has its own order


def test_state_dict_holds_the_seed_and_the_random_state_and_loads_with_weights_only() -> None:
    manual_seed(0)
    engine = DeterministicEngine(lambda engine, batch: None)
    engine.run([1, 2, 3])
    saved = round_trip(engine.state_dict())
    assert isinstance(saved["seed"], int) and saved["seed"] == engine.state.seed
    assert set(saved["rng_states"]) >= {"python", "torch", "numpy"}


def test_a_dataloader_gets_a_reproducible_batch_sampler_and_keeps_its_settings() -> None:
    loader = DataLoader(list(range(10)), batch_size=3, shuffle=True, drop_last=True, collate_fn=list)
    engine = DeterministicEngine(lambda engine, batch: batch)
    engine.run(loader)
    seen = engine.state.dataloader
    assert isinstance(seen.dataloader.batch_sampler, ReproducibleBatchSampler)
    assert seen.collate_fn is list and len(seen) == 3  # attributes of the loader it wraps
    assert sorted(index for batch in seen for index in batch) != list(range(10))  # drop_last kept: 9 of 10


def test_data_none_is_refused() -> None:
    with pytest.raises(ValueError, match=r"DeterministicEngine needs data to make reproducible: data=None"):
        DeterministicEngine(lambda engine, batch: None).run(epoch_length=3)


def test_load_state_dict_rejects_a_seed_that_is_not_an_integer() -> None:
    engine = DeterministicEngine(lambda engine, batch: None)
    engine.run([1, 2])
    saved = engine.state_dict()
    saved["seed"] = "7"
    with pytest.raises(TypeError, match=r"state_dict\['seed'\] must be an integer or None, got '7'"):
        DeterministicEngine(lambda engine, batch: None).load_state_dict(saved)


def test_random_state_saved_by_pytorch_ignite_is_restored() -> None:
    """ignite's DeterministicEngine saves [random.getstate(), torch.get_rng_state(), numpy.random.get_state()]."""
    draws: list[float] = []

    def process(engine: Engine, batch: Any) -> None:
        draws.append(float(torch.rand(1)))

    manual_seed(5)
    engine = DeterministicEngine(process)
    engine.run([0, 1, 2, 3], max_epochs=1)
    saved = engine.state_dict()
    manual_seed(9)
    expected = [float(torch.rand(1)) for _ in range(2)]
    manual_seed(9)
    saved["rng_states"] = [random.getstate(), torch.get_rng_state(), numpy.random.get_state()]
    saved.update(iteration=2, epoch=1, epoch_completed=False)
    del saved["data_position"]  # the position of the finished run; the edited dict is mid-pass, as ignite's
    del saved["epoch_start_iteration"]
    torch.rand(3)
    resumed = DeterministicEngine(process)
    resumed.load_state_dict(saved)
    draws.clear()
    resumed.run([0, 1, 2, 3], max_epochs=1)
    assert draws == expected


# ---------------------------------------------------------------------------------------------- the helpers


def test_reproducible_batch_sampler_starts_at_start_iteration_for_one_pass() -> None:
    sampler = ReproducibleBatchSampler(BatchSampler(RandomSampler(range(10)), batch_size=3, drop_last=False))
    assert len(sampler) == 4 and sampler.batch_size == 3 and not sampler.drop_last
    torch.manual_seed(0)
    full = list(sampler)
    assert sorted(index for batch in full for index in batch) == list(range(10))
    sampler.start_iteration = 2
    torch.manual_seed(0)
    assert list(sampler) == full[2:]
    torch.manual_seed(0)
    assert list(sampler) == full  # the start applied to one pass
    sequential = ReproducibleBatchSampler(BatchSampler(SequentialSampler(range(5)), 2, False), start_iteration=1)
    assert list(sequential) == [[2, 3], [4]]


def test_reproducible_batch_sampler_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"batch_sampler must be a torch.utils.data.BatchSampler, got list"):
        ReproducibleBatchSampler([[0, 1]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"start_iteration must be None or a non-negative integer.*got -1"):
        ReproducibleBatchSampler(BatchSampler(SequentialSampler(range(4)), 2, False), start_iteration=-1)


def test_update_dataloader_replaces_the_batch_sampler_and_keeps_the_rest() -> None:
    class MyLoader(DataLoader):  # type: ignore[type-arg]
        pass

    loader = MyLoader(list(range(6)), batch_size=4, collate_fn=tuple, worker_init_fn=print)
    updated = update_dataloader(loader, BatchSampler(SequentialSampler(range(6)), 2, drop_last=False))
    assert type(updated) is MyLoader and updated.collate_fn is tuple and updated.worker_init_fn is print
    assert list(updated) == [(0, 1), (2, 3), (4, 5)]
    assert list(loader) == [(0, 1, 2, 3), (4, 5)]  # the original is unchanged
    with pytest.raises(TypeError, match=r"dataloader must be a torch.utils.data.DataLoader, got list"):
        update_dataloader([1, 2], BatchSampler(SequentialSampler(range(2)), 1, False))  # type: ignore[arg-type]


def test_keep_random_state_restores_every_generator_and_returns_the_result() -> None:
    @keep_random_state
    def draw() -> tuple[float, float, float]:
        return random.random(), float(numpy.random.rand()), float(torch.rand(1))

    manual_seed(3)
    drawn = draw()
    assert drawn == (random.random(), float(numpy.random.rand()), float(torch.rand(1)))
    assert draw.__name__ == "draw"

    @keep_random_state
    def fail() -> None:
        torch.rand(10)
        raise LookupError("inside")

    manual_seed(3)
    with pytest.raises(LookupError, match="inside"):
        fail()
    manual_seed(3)
    expected = torch.rand(1)
    manual_seed(3)
    with pytest.raises(LookupError):
        fail()
    assert torch.equal(torch.rand(1), expected)


def test_deterministic_engine_is_freed_by_reference_counting() -> None:
    """The data wrapper refers to its engine weakly: no cycle, freed by reference counting."""
    import gc
    import weakref

    gc.disable()
    try:
        engine = DeterministicEngine(lambda engine, batch: batch)
        engine.run(make_loader())
        reference = weakref.ref(engine)
        del engine
        assert reference() is None
    finally:
        gc.enable()


# ------------------------------------------------------------------- the same numbers as pytorch-ignite


class CountingStream:
    """Data without a length, for both libraries."""

    def __iter__(self) -> Any:
        return iter([torch.full((1,), float(index)) for index in range(4)])


DIFFERENTIAL_DATA = {
    "list": (lambda: list(range(5)), {"max_epochs": 3}),
    "shuffled DataLoader": (lambda: DataLoader(list(range(10)), batch_size=2, shuffle=True), {"max_epochs": 3}),
    "DataLoader with its own generator": (
        lambda: DataLoader(list(range(6)), batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(5)),
        {"max_epochs": 3},
    ),
    "epoch_length shorter than the data": (
        lambda: DataLoader(list(range(10)), batch_size=2, shuffle=True),
        {"max_epochs": 4, "epoch_length": 3},
    ),
    "data without a length": (CountingStream, {"max_epochs": 3}),
    "max_iters": (lambda: DataLoader(list(range(7)), batch_size=2, shuffle=True), {"max_iters": 9}),
}


def draw_everything(engine: Any, batch: Any) -> tuple[Any, float, float, float]:
    """The batch and one number from each generator a process function may use."""
    values = batch.tolist() if isinstance(batch, torch.Tensor) else batch
    return values, float(torch.rand(1)), random.random(), float(numpy.random.rand())


def deterministic_outputs(library: Any, make_data: Any, saved_at: int | None = None, **run: Any) -> list[Any]:
    """The outputs of a DeterministicEngine run of ``library`` (ember or ignite) after ``manual_seed(0)``;
    with ``saved_at``, of a run resumed from the state saved at that iteration (the same seed again)."""
    engine_module, deterministic_module, utils_module = library
    engine_class, events = deterministic_module.DeterministicEngine, engine_module.Events
    utils_module.manual_seed(0)
    engine = engine_class(draw_everything)
    seen: list[Any] = []
    engine.add_event_handler(events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
    if saved_at is not None:
        saved: list[Any] = []

        def save_and_stop(e: Any) -> None:
            saved.append(round_trip(e.state_dict()) if library[0].__name__.startswith("ember") else e.state_dict())
            e.terminate()

        engine.add_event_handler(events.ITERATION_COMPLETED(once=saved_at), save_and_stop)
        engine.run(make_data(), **run)
        utils_module.manual_seed(0)  # as ignite's resume needs: the same seed again
        engine = engine_class(draw_everything)
        seen = []
        engine.add_event_handler(events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
        engine.load_state_dict(saved[0])
    engine.run(make_data(), **run)
    return seen


@pytest.fixture(scope="module")
def ignite_modules() -> tuple[Any, Any, Any]:
    pytest.importorskip("ignite", reason="the comparison with pytorch-ignite needs it (the dev extra)")
    import ignite.engine
    import ignite.engine.deterministic
    import ignite.utils

    return ignite.engine, ignite.engine.deterministic, ignite.utils


EMBER_MODULES = (ember.engine, ember.engine.deterministic, ember.utils)


@pytest.mark.parametrize("kind", list(DIFFERENTIAL_DATA))
def test_the_same_seed_gives_ignites_batches_and_random_numbers(kind: str, ignite_modules: Any) -> None:
    """Data order and the numbers of torch, random and NumPy in the process function, epoch after epoch."""
    make_data, run = DIFFERENTIAL_DATA[kind]
    expected = deterministic_outputs(ignite_modules, make_data, **run)
    assert deterministic_outputs(EMBER_MODULES, make_data, **run) == expected


@pytest.mark.parametrize("kind", list(DIFFERENTIAL_DATA))
@pytest.mark.parametrize("saved_at", [3, 5, 7])
def test_a_resumed_run_gives_ignites_uninterrupted_run(kind: str, saved_at: int, ignite_modules: Any) -> None:
    """ember resumes to ignite's uninterrupted run, also where ignite's own resume does not (see the next test)."""
    make_data, run = DIFFERENTIAL_DATA[kind]
    expected = deterministic_outputs(ignite_modules, make_data, **run)[saved_at:]
    assert deterministic_outputs(EMBER_MODULES, make_data, saved_at=saved_at, **run) == expected


@pytest.mark.parametrize(
    ("kind", "saved_at", "ignite_repeats_itself"),
    [
        ("list", 3, True),
        ("list", 5, False),  # at an epoch boundary ignite reseeds a list as its first pass
        ("shuffled DataLoader", 5, True),
        ("shuffled DataLoader", 3, False),  # mid-pass ignite draws the order after restoring the saved state
        ("DataLoader with its own generator", 3, False),  # ignite does not save the generator
    ],
)
def test_where_ignites_resume_differs_from_its_uninterrupted_run(
    kind: str, saved_at: int, ignite_repeats_itself: bool, ignite_modules: Any
) -> None:
    """The documented difference: ember's resume is exact; ignite's is in these cases only."""
    make_data, run = DIFFERENTIAL_DATA[kind]
    uninterrupted = deterministic_outputs(ignite_modules, make_data, **run)[saved_at:]
    ignite_resumed = deterministic_outputs(ignite_modules, make_data, saved_at=saved_at, **run)
    assert (ignite_resumed == uninterrupted) is ignite_repeats_itself
    assert deterministic_outputs(EMBER_MODULES, make_data, saved_at=saved_at, **run) == uninterrupted


def test_a_state_saved_by_ignite_resumes_to_its_uninterrupted_run(ignite_modules: Any) -> None:
    """ignite's state dict (no seed; rng_states a list) in ember, in the middle of a shuffled pass."""
    ignite_engine, ignite_deterministic, ignite_utils = ignite_modules
    make_data, run = DIFFERENTIAL_DATA["shuffled DataLoader"]
    uninterrupted = deterministic_outputs(ignite_modules, make_data, **run)
    ignite_utils.manual_seed(0)
    engine = ignite_deterministic.DeterministicEngine(draw_everything)
    saved: list[Any] = []
    engine.add_event_handler(ignite_engine.Events.ITERATION_COMPLETED(once=7), lambda e: saved.append(e.state_dict()))
    engine.add_event_handler(ignite_engine.Events.ITERATION_COMPLETED(once=7), lambda e: e.terminate())
    engine.run(make_data(), **run)
    manual_seed(0)  # ignite's state holds no seed: the run draws it again, as ignite's would
    resumed = DeterministicEngine(draw_everything)
    seen: list[Any] = []
    resumed.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
    resumed.load_state_dict(dict(saved[0]))
    resumed.run(make_data(), **run)
    assert seen == uninterrupted[7:]


def test_a_second_run_on_the_same_engine_draws_a_new_seed_as_in_ignite(ignite_modules: Any) -> None:
    """run(max_epochs=2), then run(max_epochs=4) on the same engine: ignite reseeds at STARTED."""

    def outputs(library: Any) -> tuple[list[Any], Any]:
        engine_module, deterministic_module, utils_module = library
        utils_module.manual_seed(0)
        engine = deterministic_module.DeterministicEngine(draw_everything)
        seen: list[Any] = []
        engine.add_event_handler(engine_module.Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
        data = DataLoader(list(range(6)), batch_size=2, shuffle=True)
        engine.run(data, max_epochs=2)
        engine.run(data, max_epochs=4)
        return seen, engine.state.seed

    assert outputs(EMBER_MODULES) == outputs(ignite_modules)


def test_a_deterministic_supervised_trainer_gives_ignites_weights(ignite_modules: Any) -> None:
    """create_supervised_trainer(deterministic=True) with dropout and a shuffled loader: the same weights."""
    import ignite.engine

    def weights(create_trainer: Any) -> list[torch.Tensor]:
        manual_seed(0)
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        trainer = create_trainer(model, optimizer, nn.CrossEntropyLoss(), deterministic=True)
        trainer.run(make_loader(), max_epochs=3)
        return [parameter.detach() for parameter in model.parameters()]

    expected = weights(ignite.engine.create_supervised_trainer)
    assert all(torch.equal(a, b) for a, b in zip(weights(create_supervised_trainer), expected))


def test_validation_between_epochs_leaves_ignites_order_and_weights(ignite_modules: Any) -> None:
    """A deterministic trainer validating at each EPOCH_COMPLETED (whose DataLoader draws from torch's generator)."""
    import ignite.engine

    def run(engine_module: Any) -> tuple[list[Any], list[torch.Tensor]]:
        manual_seed(0)
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        trainer = engine_module.create_supervised_trainer(
            model,
            optimizer,
            nn.CrossEntropyLoss(),
            deterministic=True,
            output_transform=lambda x, y, y_pred, loss: (loss.item(), x.sum().item()),
        )
        evaluator = engine_module.create_supervised_evaluator(model)
        validation = DataLoader(TensorDataset(torch.randn(12, 6), torch.randint(0, 3, (12,))), batch_size=5)
        trainer.add_event_handler(engine_module.Events.EPOCH_COMPLETED, lambda: evaluator.run(validation))
        seen: list[Any] = []
        trainer.add_event_handler(engine_module.Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
        trainer.run(make_loader(), max_epochs=3)
        return seen, [parameter.detach() for parameter in model.parameters()]

    expected_outputs, expected_weights = run(ignite.engine)
    outputs, weights = run(ember.engine)
    assert outputs == expected_outputs
    assert all(torch.equal(a, b) for a, b in zip(weights, expected_weights))


def terminate_epoch_outputs(library: Any, saved_at: tuple[str, int] | None = None) -> tuple[list[Any], int]:
    """A run whose second epoch is cut short by terminate_epoch() after 3 of its 5 iterations; with
    ``saved_at`` (an event and its ``once``), resumed from the state saved there. Returns the outputs and
    the iteration of the save."""
    engine_module, deterministic_module, utils_module = library
    events = engine_module.Events

    def build() -> tuple[Any, list[Any]]:
        engine = deterministic_module.DeterministicEngine(draw_everything)
        seen: list[Any] = []
        engine.add_event_handler(events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
        engine.add_event_handler(events.ITERATION_COMPLETED(once=8), lambda e: e.terminate_epoch())
        return engine, seen

    def make_data() -> Any:
        return DataLoader(list(range(10)), batch_size=2, shuffle=True)

    utils_module.manual_seed(0)
    engine, seen = build()
    if saved_at is None:
        engine.run(make_data(), max_epochs=4)
        return seen, 0
    saved: list[Any] = []
    event, once = saved_at
    engine.add_event_handler(getattr(events, event)(once=once), lambda e: saved.append(round_trip(e.state_dict())))
    engine.run(make_data(), max_epochs=4)
    resumed, seen = build()
    resumed.load_state_dict(saved[0])
    torch.rand(3)  # another process: the state dict decides
    resumed.run(make_data(), max_epochs=4)
    return seen, saved[0]["iteration"]


def test_the_pass_after_terminate_epoch_is_seeded_as_in_ignite(ignite_modules: Any) -> None:
    """ignite divides by the iterations of the epoch cut short there, not by the data's length."""
    assert terminate_epoch_outputs(EMBER_MODULES) == terminate_epoch_outputs(ignite_modules)


@pytest.mark.parametrize("saved_at", [("EPOCH_COMPLETED", 2), ("ITERATION_COMPLETED", 9), ("ITERATION_COMPLETED", 10)])
def test_a_run_resumed_after_terminate_epoch_continues_exactly(saved_at: tuple[str, int]) -> None:
    """Saved when the epoch cut short completed, or in the pass that follows it."""
    full, _ = terminate_epoch_outputs(EMBER_MODULES)
    resumed, iteration = terminate_epoch_outputs(EMBER_MODULES, saved_at=saved_at)
    assert resumed == full[iteration:]


def outputs_with_a_drawing_handler(library: Any, where: str) -> list[Any]:
    """Batches and process-function draws of a 3-epoch shuffled run whose handler draws random numbers ``where``."""
    engine_module, deterministic_module, utils_module = library
    events = engine_module.Events
    utils_module.manual_seed(3)
    seen: list[Any] = []
    engine = deterministic_module.DeterministicEngine(lambda e, b: seen.append((b.tolist(), float(torch.rand(1)))))
    if where == "first GET_BATCH_STARTED":
        engine.add_event_handler(events.GET_BATCH_STARTED, lambda e: torch.rand(1) if e.state.iteration == 0 else None)
    elif where == "DATALOADER_STOP_ITERATION":
        engine.add_event_handler(events.DATALOADER_STOP_ITERATION, lambda e: torch.rand(5))
    else:  # EPOCH_COMPLETED after terminate_epoch()
        engine.add_event_handler(events.ITERATION_COMPLETED(once=3), lambda e: e.terminate_epoch())
        engine.add_event_handler(events.EPOCH_COMPLETED, lambda e: torch.rand(5))
    engine.run(DataLoader(list(range(10)), batch_size=2, shuffle=True), max_epochs=3)
    return seen


@pytest.mark.parametrize("where", ["first GET_BATCH_STARTED", "EPOCH_COMPLETED after terminate_epoch()"])
def test_a_handler_that_draws_where_the_pass_opens_gives_ignites_results(where: str, ignite_modules: Any) -> None:
    """Both libraries open (and seed) the pass at the same moment: a handler's draws there shift nothing."""
    expected = outputs_with_a_drawing_handler(ignite_modules, where)
    assert outputs_with_a_drawing_handler(EMBER_MODULES, where) == expected


def test_a_drawing_dataloader_stop_iteration_handler_differs_from_ignite(ignite_modules: Any) -> None:
    """The one case docs/resume.md lists: draws at DATALOADER_STOP_ITERATION give another order than ignite's."""
    expected = outputs_with_a_drawing_handler(ignite_modules, "DATALOADER_STOP_ITERATION")
    assert outputs_with_a_drawing_handler(EMBER_MODULES, "DATALOADER_STOP_ITERATION") != expected
