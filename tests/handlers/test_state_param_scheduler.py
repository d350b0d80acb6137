"""State parameter schedulers, BatchSizeScheduler and the cycle_mult check, against pytorch-ignite 0.5.5 run here.

Each test runs the same program on ignite and on ember (a trainer over a real DataLoader) and compares
what a user sees: ``engine.state.<param_name>`` after every event, ``param_history``, the batch size of
every batch, ``simulate_values`` and the state dicts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import ignite.engine
import ignite.handlers
import ignite.handlers.param_scheduler
import ignite.handlers.state_param_scheduler
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import ember.engine
import ember.handlers
import ember.handlers.param_scheduler
import ember.handlers.state_param_scheduler

STATE_SCHEDULERS: list[tuple[str, dict[str, Any]]] = [
    ("LambdaStateScheduler", {"lambda_obj": lambda n: 1.5 * 0.9 ** (n % 4)}),
    ("PiecewiseLinearStateScheduler", {"milestones_values": [(2, 1.0), (5, 0.4), (5, 2.0), (9, 0.0)]}),
    ("PiecewiseLinearStateScheduler", {"milestones_values": [(0, 3), (7, 10)]}),
    ("ExpStateScheduler", {"initial_value": 2.0, "gamma": 0.8}),
    ("ExpStateScheduler", {"initial_value": 3, "gamma": 2}),
    ("StepStateScheduler", {"initial_value": 1.0, "gamma": 0.5, "step_size": 3}),
    ("MultiStepStateScheduler", {"initial_value": 1.0, "gamma": 0.3, "milestones": [1, 4, 8]}),
]


def run_state_scheduler(library: Any, name: str, kwargs: dict[str, Any], event_name: str) -> tuple[list[Any], Any]:
    """``engine.state.weight`` after each iteration, and the saved history, for ``library`` (ignite or ember)."""
    engine_module = library.engine
    scheduler = getattr(library.handlers, name)(param_name="weight", save_history=True, create_new=True, **kwargs)
    trainer = engine_module.Engine(lambda engine, batch: None)
    scheduler.attach(trainer, getattr(engine_module.Events, event_name))
    seen: list[Any] = []
    trainer.add_event_handler(engine_module.Events.ITERATION_COMPLETED, lambda engine: seen.append(engine.state.weight))
    loader = DataLoader(TensorDataset(torch.arange(8)), batch_size=2)
    trainer.run(loader, max_epochs=3)
    return seen, trainer.state.param_history["weight"]


@pytest.mark.parametrize(("name", "kwargs"), STATE_SCHEDULERS)
@pytest.mark.parametrize("event_name", ["ITERATION_COMPLETED", "EPOCH_STARTED"])
def test_state_schedulers_set_ignites_values_at_every_event(name: str, kwargs: dict[str, Any], event_name: str) -> None:
    expected = run_state_scheduler(ignite, name, kwargs, event_name)
    got = run_state_scheduler(ember, name, kwargs, event_name)
    assert got == expected
    assert [type(value) for value in got[0]] == [type(value) for value in expected[0]]


@pytest.mark.parametrize(("name", "kwargs"), STATE_SCHEDULERS)
def test_simulate_values_and_state_dicts_equal_ignites(name: str, kwargs: dict[str, Any]) -> None:
    ignite_class = getattr(ignite.handlers.state_param_scheduler, name)
    ember_class = getattr(ember.handlers.state_param_scheduler, name)
    assert ember_class.simulate_values(12, param_name="p", **kwargs) == ignite_class.simulate_values(
        12, param_name="p", **kwargs
    )
    ignite_scheduler = ignite_class(param_name="p", **kwargs)
    ember_scheduler = ember_class(param_name="p", **kwargs)
    ignite_engine, ember_engine = ignite.engine.Engine(lambda e, b: None), ember.engine.Engine(lambda e, b: None)
    for _ in range(6):
        ignite_scheduler(ignite_engine)
        ember_scheduler(ember_engine)
    assert sorted(ember_scheduler.state_dict()) == sorted(ignite_scheduler.state_dict())
    # ignite's saved state continues in ember with ignite's next values
    resumed = ember_class(param_name="p", **kwargs)
    resumed.load_state_dict(ignite_scheduler.state_dict())
    for _ in range(4):
        ignite_scheduler(ignite_engine)
        resumed(ember_engine)
        assert ember_engine.state.p == ignite_engine.state.p


def test_attach_follows_ignites_create_new_rules() -> None:
    """create_new=True refuses an existing attribute; create_new=False creates a missing one with a warning."""
    for library in (ignite, ember):
        trainer = library.engine.Engine(lambda engine, batch: None)
        trainer.state.weight = 1.0
        scheduler = library.handlers.ExpStateScheduler(1.0, 0.5, "weight", create_new=True)
        with pytest.raises(ValueError, match="weight"):
            scheduler.attach(trainer)
        with pytest.warns(UserWarning, match="other"):
            library.handlers.ExpStateScheduler(1.0, 0.5, "other").attach(trainer)
        assert trainer.state.other is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.handlers.ExpStateScheduler(1.0, 0.5, "weight").attach(trainer)  # existing attribute: taken over


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: ember.handlers.LambdaStateScheduler(0.5, "p"), TypeError, "lambda_obj must be callable"),
        (lambda: ember.handlers.ExpStateScheduler("1", 0.5, "p"), TypeError, "initial_value must be a number"),
        (lambda: ember.handlers.ExpStateScheduler(1.0, 0.5, "not a name"), ValueError, "valid attribute name"),
        (lambda: ember.handlers.ExpStateScheduler(1.0, 0.5, "p", create_new=1), TypeError, "create_new"),
        (lambda: ember.handlers.StepStateScheduler(1.0, 0.5, 0, "p"), ValueError, "step_size must be"),
        (lambda: ember.handlers.MultiStepStateScheduler(1.0, 0.5, [3, 2], "p"), ValueError, "increasing"),
        (lambda: ember.handlers.MultiStepStateScheduler(1.0, 0.5, [], "p"), ValueError, "non-empty"),
        (lambda: ember.handlers.PiecewiseLinearStateScheduler([], "p"), ValueError, "empty"),
        (lambda: ember.handlers.PiecewiseLinearStateScheduler([(3, 1.0), (1, 0.0)], "p"), ValueError, "decrease"),
        (lambda: ember.handlers.PiecewiseLinearStateScheduler([(0.5, 1.0)], "p"), TypeError, "whole number"),
        (lambda: ember.handlers.PiecewiseLinearStateScheduler([(0, 1.0, 2)], "p"), ValueError, "pairs"),
    ],
)
def test_bad_arguments_are_refused_at_construction(build: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_attaching_a_state_scheduler_twice_is_refused() -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    scheduler = ember.handlers.ExpStateScheduler(1.0, 0.5, "weight", create_new=True)
    scheduler.attach(trainer)
    with pytest.raises(RuntimeError, match="already attached"):
        scheduler.attach(trainer)
    with pytest.raises(TypeError, match="expects an ember Engine"):
        ember.handlers.ExpStateScheduler(1.0, 0.5, "w").attach(object())  # type: ignore[arg-type]


def run_batch_sizes(library: Any, epoch_length: int | None, save_history: bool) -> tuple[list[int], Any]:
    """The size of every batch the trainer saw, and the scheduler's history."""
    loader = DataLoader(TensorDataset(torch.arange(30)), batch_size=4, shuffle=False)
    trainer = library.engine.Engine(lambda engine, batch: len(batch[0]))
    scheduler = library.handlers.param_scheduler.BatchSizeScheduler(
        loader, lambda epoch: 4 + 2 * epoch, save_history=save_history
    )
    scheduler.attach(trainer)
    sizes: list[int] = []
    trainer.add_event_handler(
        library.engine.Events.ITERATION_COMPLETED, lambda engine: sizes.append(engine.state.output)
    )
    trainer.run(loader, max_epochs=3, epoch_length=epoch_length)
    return sizes, getattr(trainer.state, "param_history", None)


@pytest.mark.parametrize("epoch_length", [None, 3, 7])
def test_batch_size_scheduler_gives_ignites_batches(epoch_length: int | None) -> None:
    assert run_batch_sizes(ember, epoch_length, True) == run_batch_sizes(ignite, epoch_length, True)
    assert run_batch_sizes(ember, epoch_length, False) == run_batch_sizes(ignite, epoch_length, False)


def test_batch_size_scheduler_simulate_values_equal_ignites() -> None:
    def schedule(epoch: int) -> int:
        return 2**epoch

    expected = ignite.handlers.BatchSizeScheduler.simulate_values(5, scheduler_fn=schedule)
    assert ember.handlers.BatchSizeScheduler.simulate_values(5, scheduler_fn=schedule) == expected


def test_batch_size_scheduler_refuses_bad_input_when_wired() -> None:
    loader = DataLoader(TensorDataset(torch.arange(8)), batch_size=2)
    with pytest.raises(TypeError, match="must be a torch"):
        ember.handlers.BatchSizeScheduler([1, 2], lambda epoch: 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="BatchSampler"):
        ember.handlers.BatchSizeScheduler(DataLoader(TensorDataset(torch.arange(8)), batch_size=None), lambda e: 2)
    with pytest.raises(TypeError, match="scheduler_fn must be callable"):
        ember.handlers.BatchSizeScheduler(loader, 4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scheduler_fn"):
        ember.handlers.BatchSizeScheduler(loader, lambda: 4)  # type: ignore[arg-type,misc]
    scheduler = ember.handlers.BatchSizeScheduler(loader, lambda epoch: 0.5)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match=r"scheduler_fn\(0\) gave 0.5"):
        scheduler(None)


def test_cosine_annealing_refuses_cycle_mult_zero_at_construction() -> None:
    """ignite accepts cycle_mult=0 and fails with ZeroDivisionError after the first cycle; ember refuses it."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ignite_scheduler = ignite.handlers.CosineAnnealingScheduler(optimizer, "lr", 1.0, 0.0, cycle_size=4, cycle_mult=0)
    with pytest.raises(ZeroDivisionError):
        for _ in range(5):
            ignite_scheduler(None)
    for cycle_mult in (0, -1.0, 0.2):
        with pytest.raises(ValueError, match=f"cycle_mult={cycle_mult!r} makes the second cycle"):
            ember.handlers.CosineAnnealingScheduler(optimizer, "lr", 1.0, 0.0, cycle_size=4, cycle_mult=cycle_mult)


def test_a_shrinking_cycle_gives_ignites_values_then_a_clear_error() -> None:
    """cycle_mult < 1: ignite's values while the cycles last, then ValueError where ignite divides by zero."""
    kwargs = {"param_name": "lr", "start_value": 1.0, "end_value": 0.0, "cycle_size": 4, "cycle_mult": 0.5}
    optimizers = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1) for _ in range(2)]
    ignite_scheduler = ignite.handlers.CosineAnnealingScheduler(optimizers[0], **kwargs)
    ember_scheduler = ember.handlers.CosineAnnealingScheduler(optimizers[1], **kwargs)
    with pytest.raises(ZeroDivisionError):
        for _ in range(20):
            ignite_scheduler(None)
            ember_scheduler(None)
            assert optimizers[1].param_groups[0]["lr"] == optimizers[0].param_groups[0]["lr"]
    with pytest.raises(ValueError, match="shrank cycle 3 of CosineAnnealingScheduler to 0 events"):
        ember_scheduler(None)
