"""LRScheduler: the learning rates of a run match a hand-written loop stepping the same torch scheduler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as schedulers

from ember.engine import Engine, Events
from ember.handlers import LRScheduler

SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


def make_optimizer(kind: str = "sgd") -> torch.optim.Optimizer:
    """A small model with two param groups of different base learning rates, seeded for repeatability."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    groups = [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[1].parameters(), "lr": 0.02}]
    if kind == "adam":
        return torch.optim.Adam(groups)
    return torch.optim.SGD(groups, momentum=0.9)


def train_one_step(optimizer: torch.optim.Optimizer) -> None:
    """A real gradient step on random data, so the scheduler sees an optimizer that has stepped."""
    optimizer.zero_grad()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    loss = sum((p * torch.randn_like(p)).sum() for p in params)
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    optimizer.step()


def rates(optimizer: torch.optim.Optimizer) -> list[float]:
    return [group["lr"] for group in optimizer.param_groups]


def by_hand(factory: SchedulerFactory, epochs: int, epoch_length: int, per_epoch: bool) -> list[list[float]]:
    """The reference: the learning rates each iteration trains with, stepping the scheduler as torch documents."""
    optimizer = make_optimizer()
    scheduler = factory(optimizer)
    seen = []
    for _ in range(epochs):
        for _ in range(epoch_length):
            seen.append(rates(optimizer))
            train_one_step(optimizer)
            if not per_epoch:
                scheduler.step()
        if per_epoch:
            scheduler.step()
    return seen


def with_ember(factory: SchedulerFactory, epochs: int, epoch_length: int, per_epoch: bool) -> list[list[float]]:
    optimizer = make_optimizer()
    scheduler = factory(optimizer)
    seen = []

    def step(engine: Engine, batch: Any) -> None:
        seen.append(rates(optimizer))
        train_one_step(optimizer)

    trainer = Engine(step)
    event = Events.EPOCH_COMPLETED if per_epoch else Events.ITERATION_COMPLETED
    LRScheduler(scheduler, optimizer).attach(trainer, event)
    trainer.run(range(epoch_length), max_epochs=epochs)
    return seen


def warmup_then_cosine(optimizer: torch.optim.Optimizer) -> Any:
    warmup = schedulers.LinearLR(optimizer, start_factor=0.1, total_iters=4)
    cosine = schedulers.CosineAnnealingLR(optimizer, T_max=10, eta_min=1e-4)
    return schedulers.SequentialLR(optimizer, [warmup, cosine], milestones=[4])


SCHEDULERS = [
    pytest.param(lambda opt: schedulers.StepLR(opt, step_size=3, gamma=0.5), id="StepLR"),
    pytest.param(lambda opt: schedulers.MultiStepLR(opt, milestones=[2, 5, 7], gamma=0.3), id="MultiStepLR"),
    pytest.param(lambda opt: schedulers.ExponentialLR(opt, gamma=0.9), id="ExponentialLR"),
    pytest.param(lambda opt: schedulers.CosineAnnealingLR(opt, T_max=5), id="CosineAnnealingLR"),
    pytest.param(lambda opt: schedulers.CosineAnnealingWarmRestarts(opt, T_0=3), id="CosineAnnealingWarmRestarts"),
    pytest.param(lambda opt: schedulers.LambdaLR(opt, [lambda i: 1 / (i + 1), lambda i: 0.9**i]), id="LambdaLR"),
    pytest.param(lambda opt: schedulers.OneCycleLR(opt, max_lr=[0.5, 0.1], total_steps=40), id="OneCycleLR"),
    pytest.param(lambda opt: schedulers.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3), id="CyclicLR"),
    pytest.param(lambda opt: schedulers.PolynomialLR(opt, total_iters=8, power=2.0), id="PolynomialLR"),
    pytest.param(warmup_then_cosine, id="LinearLR-warmup-then-cosine"),
    pytest.param(
        lambda opt: schedulers.ChainedScheduler(
            [schedulers.ConstantLR(opt, factor=0.5, total_iters=2), schedulers.ExponentialLR(opt, gamma=0.95)]
        ),
        id="ChainedScheduler",
    ),
]


@pytest.mark.parametrize("factory", SCHEDULERS)
@pytest.mark.parametrize("per_epoch", [False, True], ids=["per-iteration", "per-epoch"])
def test_same_learning_rates_as_stepping_the_scheduler_by_hand(factory: SchedulerFactory, per_epoch: bool) -> None:
    expected = by_hand(factory, epochs=4, epoch_length=5, per_epoch=per_epoch)
    assert with_ember(factory, epochs=4, epoch_length=5, per_epoch=per_epoch) == expected
    # The schedule really changes over the run; equal constant sequences would prove nothing.
    assert len({tuple(lrs) for lrs in expected}) > 1


def test_linear_warmup_reaches_the_base_rate() -> None:
    """Hand-computed: LinearLR from 1/4 of the base rate over 3 iterations, then the base rate."""
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.8)
    warmup = schedulers.LinearLR(optimizer, start_factor=0.25, total_iters=3)
    seen = []

    def step(engine: Engine, batch: Any) -> None:
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()

    trainer = Engine(step)
    LRScheduler(warmup, optimizer).attach(trainer)
    trainer.run(range(6))
    assert seen == pytest.approx([0.2, 0.4, 0.6, 0.8, 0.8, 0.8])


@settings(max_examples=25, deadline=None)
@given(
    step_size=st.integers(1, 6),
    gamma=st.floats(0.1, 0.99),
    epochs=st.integers(1, 4),
    epoch_length=st.integers(1, 6),
    per_epoch=st.booleans(),
)
def test_step_lr_matches_by_hand_for_any_schedule(
    step_size: int, gamma: float, epochs: int, epoch_length: int, per_epoch: bool
) -> None:
    def factory(opt: torch.optim.Optimizer) -> Any:
        return schedulers.StepLR(opt, step_size=step_size, gamma=gamma)

    assert with_ember(factory, epochs, epoch_length, per_epoch) == by_hand(factory, epochs, epoch_length, per_epoch)


def test_learning_rates_are_recorded_in_engine_state() -> None:
    """At STARTED the initial rates; after each step the rates the next iteration will use."""
    optimizer = make_optimizer()
    scheduler = schedulers.StepLR(optimizer, step_size=2, gamma=0.1)
    trainer = Engine(lambda engine, batch: optimizer.step())
    LRScheduler(scheduler, optimizer).attach(trainer)
    recorded: list[Any] = []
    trainer.add_event_handler(Events.STARTED, lambda engine: recorded.append(("started", engine.state.lr)))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: recorded.append(engine.state.lr))
    state = trainer.run(range(4))
    assert recorded[0] == ("started", [0.1, 0.02])
    flat = [lr for lrs in recorded[1:] for lr in lrs]
    assert flat == pytest.approx([0.1, 0.02, 0.01, 0.002, 0.01, 0.002, 0.001, 0.0002])
    assert state.lr == rates(optimizer)


def test_state_attr_names_the_state_attribute() -> None:
    optimizer = make_optimizer()
    trainer = Engine(lambda engine, batch: optimizer.step())
    LRScheduler(schedulers.ExponentialLR(optimizer, 0.5), optimizer, state_attr="learning_rates").attach(trainer)
    state = trainer.run(range(2))
    assert state.learning_rates == pytest.approx([0.025, 0.005])
    assert not hasattr(state, "lr")


def test_called_directly_with_a_hand_built_engine() -> None:
    optimizer = make_optimizer()
    handler = LRScheduler(schedulers.StepLR(optimizer, step_size=1, gamma=0.5), optimizer)
    engine = Engine()
    for _ in range(2):
        train_one_step(optimizer)
        handler(engine)
    assert engine.state.lr == pytest.approx([0.025, 0.005])
    assert handler.learning_rates == engine.state.lr


# ---------------------------------------------------------------- ReduceLROnPlateau

VALIDATION_LOSSES = [1.0, 0.8, 0.81, 0.82, 0.83, 0.7, 0.71, 0.72, 0.73, 0.74]


def plateau(optimizer: torch.optim.Optimizer) -> schedulers.ReduceLROnPlateau:
    return schedulers.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)


def plateau_by_hand() -> list[list[float]]:
    optimizer = make_optimizer()
    scheduler = plateau(optimizer)
    seen = []
    for loss in VALIDATION_LOSSES:
        train_one_step(optimizer)
        scheduler.step(loss)
        seen.append(rates(optimizer))
    return seen


def test_reduce_on_plateau_fed_from_an_evaluator_metric() -> None:
    """The evaluator runs after each training epoch; the handler, attached to its COMPLETED, reads its metric."""
    optimizer = make_optimizer()
    trainer = Engine(lambda engine, batch: train_one_step(optimizer))
    losses = iter(VALIDATION_LOSSES)
    evaluator = Engine()
    evaluator.add_event_handler(Events.COMPLETED, lambda engine: engine.state.metrics.update(loss=next(losses)))
    LRScheduler(plateau(optimizer), optimizer, metric="loss").attach(evaluator, Events.COMPLETED)
    seen = []

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate() -> None:
        seen.append(evaluator.run([0]).lr)

    trainer.run([0], max_epochs=len(VALIDATION_LOSSES))
    expected = plateau_by_hand()
    assert seen == expected
    assert expected[-1] == pytest.approx([0.025, 0.005])  # reduced twice, so the test can tell a difference


def test_reduce_on_plateau_with_a_metric_function() -> None:
    optimizer = make_optimizer()
    trainer = Engine(lambda engine, batch: train_one_step(optimizer))
    losses = iter(VALIDATION_LOSSES)
    handler = LRScheduler(plateau(optimizer), optimizer, metric=lambda engine: torch.tensor(next(losses)))
    handler.attach(trainer, Events.EPOCH_COMPLETED)
    seen = []
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: seen.append(engine.state.lr))
    trainer.run([0], max_epochs=len(VALIDATION_LOSSES))
    assert seen == plateau_by_hand()


@pytest.mark.parametrize(
    ("metrics", "error", "message"),
    [
        ({}, KeyError, r"watches the metric 'loss', but engine.state.metrics has only \[\]\. Attach the metric"),
        ({"loss": "low"}, TypeError, r"must be a real number, got 'low' \(str\)"),
        ({"loss": float("nan")}, ValueError, r"The metric for ReduceLROnPlateau is nan"),
    ],
)
def test_a_missing_or_bad_metric_says_so(metrics: dict[str, Any], error: type[Exception], message: str) -> None:
    optimizer = make_optimizer()
    handler = LRScheduler(plateau(optimizer), optimizer, metric="loss")
    engine = Engine()
    engine.state.metrics.update(metrics)
    with pytest.raises(error, match=message):
        handler(engine)


# ---------------------------------------------------------------- checkpoints


def test_state_dict_resumes_the_schedule() -> None:
    """Stopped after 7 iterations and resumed on new objects from the saved states: the rates go on as in one run."""
    factory = warmup_then_cosine
    expected = by_hand(factory, epochs=3, epoch_length=5, per_epoch=False)

    optimizer = make_optimizer()
    handler = LRScheduler(factory(optimizer), optimizer)
    seen = []

    def make_step(opt: torch.optim.Optimizer) -> Callable[[Engine, Any], None]:
        def step(engine: Engine, batch: Any) -> None:
            seen.append(rates(opt))
            train_one_step(opt)

        return step

    trainer = Engine(make_step(optimizer))
    handler.attach(trainer)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=7), lambda engine: engine.interrupt())
    trainer.run(range(5), max_epochs=3)
    saved = {"trainer": trainer.state_dict(), "optimizer": optimizer.state_dict(), "lr": handler.state_dict()}

    # As torch documents: build optimizer and scheduler first, then load both states (building a
    # scheduler sets the optimizer's rates, so it must not come after loading the optimizer).
    optimizer2 = make_optimizer()
    handler2 = LRScheduler(factory(optimizer2), optimizer2)
    optimizer2.load_state_dict(saved["optimizer"])
    handler2.load_state_dict(saved["lr"])
    trainer2 = Engine(make_step(optimizer2))
    handler2.attach(trainer2)
    trainer2.load_state_dict(saved["trainer"])
    trainer2.run(range(5), max_epochs=3)

    assert len(seen) == 15
    assert seen == expected


# ---------------------------------------------------------------- bad input


def test_a_scheduler_bound_to_another_optimizer_is_refused() -> None:
    optimizer, other = make_optimizer(), make_optimizer("adam")
    with pytest.raises(ValueError, match=r"The StepLR is bound to another optimizer than the one given \(Adam at"):
        LRScheduler(schedulers.StepLR(other, step_size=1), optimizer)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda opt: LRScheduler("StepLR", opt),  # type: ignore[arg-type]
            TypeError,
            r"scheduler must be a torch.optim.lr_scheduler scheduler, got str\. Pass e\.g\.",
        ),
        (
            lambda opt: LRScheduler(schedulers.StepLR(opt, 1), "sgd"),  # type: ignore[arg-type]
            TypeError,
            r"optimizer must be a torch\.optim\.Optimizer, got str\. Pass the optimizer",
        ),
        (
            lambda opt: LRScheduler(plateau(opt), opt),
            ValueError,
            r"ReduceLROnPlateau needs the value it watches, but metric is None\. Pass metric='loss'",
        ),
        (
            lambda opt: LRScheduler(schedulers.StepLR(opt, 1), opt, metric="loss"),
            ValueError,
            r"metric='loss' was given, but StepLR does not take one \(only ReduceLROnPlateau does\)",
        ),
        (
            lambda opt: LRScheduler(plateau(opt), opt, metric=3),  # type: ignore[arg-type]
            TypeError,
            r"metric must be a metric name or a callable engine -> float, got int",
        ),
        (
            lambda opt: LRScheduler(schedulers.StepLR(opt, 1), opt, state_attr="learning rate"),
            ValueError,
            r"state_attr must be a valid attribute name, got 'learning rate'",
        ),
        (
            lambda opt: LRScheduler(schedulers.StepLR(opt, 1), opt).attach(opt),  # type: ignore[arg-type]
            TypeError,
            r"LRScheduler\.attach expects an ember Engine, got SGD",
        ),
        (
            lambda opt: LRScheduler(schedulers.StepLR(opt, 1), opt).load_state_dict([1]),  # type: ignore[arg-type]
            TypeError,
            r"load_state_dict expects a mapping, got list",
        ),
    ],
)
def test_bad_arguments_are_refused(
    make: Callable[[torch.optim.Optimizer], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make(make_optimizer())


def test_attaching_twice_to_the_same_engine_is_refused() -> None:
    optimizer = make_optimizer()
    handler = LRScheduler(schedulers.StepLR(optimizer, 1), optimizer)
    engine = Engine()
    handler.attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached to this engine; a second attachment would step"):
        handler.attach(engine, Events.EPOCH_COMPLETED)
