"""ignite's parameter schedulers: values at every step against tables from ignite's documented formulas.

Each expected table is computed here, from the formula in ignite's documentation (or copied from the
example output printed there), never from ember's code. A schedule runs on a real trainer: the
scheduler is added at ITERATION_STARTED (ignite's spelling) and the learning rate each iteration
trains with is read at ITERATION_COMPLETED.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, ExponentialLR, OneCycleLR, StepLR

from ember.engine import Engine, Events
from ember.handlers.param_scheduler import (
    ConcatScheduler,
    CosineAnnealingScheduler,
    LinearCyclicalScheduler,
    LRScheduler,
    ParamGroupScheduler,
    ParamScheduler,
    PiecewiseLinear,
    ReduceLROnPlateauScheduler,
    create_lr_scheduler_with_warmup,
)


def make_optimizer(groups: int = 1, lr: float = 0.1) -> torch.optim.SGD:
    return torch.optim.SGD(
        [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(groups)], lr=lr, momentum=0.9
    )


def run(
    scheduler: Any, optimizer: torch.optim.Optimizer, iterations: int, entry: str = "lr", group: int = 0
) -> list[float]:
    """The value of ``entry`` that each of ``iterations`` iterations trains with."""
    trainer = Engine(lambda engine, batch: optimizer.step())
    trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    seen: list[float] = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda: seen.append(float(optimizer.param_groups[group][entry]))
    )
    trainer.run([0] * iterations)
    return seen


def linear_between(milestones: list[tuple[int, float]], event: int) -> float:
    """ignite's PiecewiseLinear: constant before the first and after the last milestone, linear in between."""
    if event < milestones[0][0]:
        return milestones[0][1]
    if event >= milestones[-1][0]:
        return milestones[-1][1]
    for (start, start_value), (end, end_value) in itertools.pairwise(milestones):
        if start <= event < end:
            return start_value + (end_value - start_value) * (event - start) / (end - start)
    raise AssertionError("unreachable")


def cyclical(
    shape: Callable[[float, float, float], float],
    events: int,
    start: float,
    end: float,
    cycle_size: int,
    cycle_mult: float = 1.0,
    start_mult: float = 1.0,
    end_mult: float = 1.0,
    warmup: int = 0,
) -> list[float]:
    """ignite's cyclical schedules: ``shape(start, end, t)`` over each cycle, t = i / cycle_size, then an optional
    linear warm-up from the end value to the next cycle's start value; after each cycle its size and warm-up are
    multiplied by cycle_mult (rounded down), start by start_mult, end by end_mult."""
    values: list[float] = []
    while len(values) < events:
        for index in range(cycle_size):
            values.append(shape(start, end, index / cycle_size))
        next_start = start * start_mult
        if warmup:
            values.append(shape(start, end, 1.0))  # the cycle's end value, then the ramp to the next start
            for index in range(1, warmup):
                values.append(end + (next_start - end) * index / warmup)
        start, end = next_start, end * end_mult
        cycle_size, warmup = int(cycle_size * cycle_mult), int(warmup * cycle_mult)
    return values[:events]


def triangle(start: float, end: float, t: float) -> float:
    return end + (start - end) * abs(t - 0.5) * 2


def ramp(start: float, end: float, t: float) -> float:
    return start + (end - start) * t


def half_cosine(start: float, end: float, t: float) -> float:
    return start + (end - start) / 2 * (1 - math.cos(math.pi * t))


# ---------------------------------------------------------------- values at every step


def test_piecewise_linear_documented_example() -> None:
    """ignite's docstring: milestones [(1, 1.0), (3, 0.8), (5, 0.2)] print 1.0, 1.0, 0.9, 0.8, 0.5, 0.2, 0.2, 0.2."""
    optimizer = make_optimizer()
    values = run(PiecewiseLinear(optimizer, "lr", [(1, 1.0), (3, 0.8), (5, 0.2)]), optimizer, 8)
    assert values == pytest.approx([1.0, 1.0, 0.9, 0.8, 0.5, 0.2, 0.2, 0.2])


@pytest.mark.parametrize(
    "milestones",
    [
        [(10, 0.5), (15, 1.0), (25, 0.0), (35, 1.0), (40, 0.5)],
        [(0, 0.5), (5, 1.0), (5, 0.2), (9, 0.0)],  # a repeated milestone: a jump
        [(3, 0.25)],
    ],
)
def test_piecewise_linear_against_the_formula(milestones: list[tuple[int, float]]) -> None:
    optimizer = make_optimizer()
    values = run(PiecewiseLinear(optimizer, "lr", milestones), optimizer, 50)
    assert values == pytest.approx([linear_between(milestones, event) for event in range(50)])


def test_linear_cyclical_documented_example() -> None:
    """Documented shape: start -> end over half a cycle, back over the other half; then the next cycle."""
    optimizer = make_optimizer()
    values = run(LinearCyclicalScheduler(optimizer, "lr", 0.0, 1.0, 4), optimizer, 9)
    assert values == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"start_value": 0.0, "end_value": 1.0, "cycle_size": 6}, triangle),
        (
            {"start_value": 0.0, "end_value": 1.0, "cycle_size": 6, "cycle_mult": 1.5, "start_value_mult": 0.5},
            triangle,
        ),
        ({"start_value": 0.2, "end_value": 1.0, "cycle_size": 5, "end_value_mult": 0.8}, triangle),
        ({"start_value": 1.0, "end_value": 0.0, "cycle_size": 5, "monotonic": True, "cycle_mult": 2}, ramp),
        (
            {"start_value": 1.0, "end_value": 0.0, "cycle_size": 5, "monotonic": True, "warmup_duration": 3},
            ramp,
        ),
    ],
)
def test_linear_cyclical_against_the_formula(kwargs: dict[str, Any], shape: Callable[..., float]) -> None:
    optimizer = make_optimizer()
    values = run(LinearCyclicalScheduler(optimizer, "lr", **kwargs), optimizer, 40)
    expected = cyclical(
        shape,
        40,
        kwargs["start_value"],
        kwargs["end_value"],
        kwargs["cycle_size"],
        kwargs.get("cycle_mult", 1.0),
        kwargs.get("start_value_mult", 1.0),
        kwargs.get("end_value_mult", 1.0),
        kwargs.get("warmup_duration", 0),
    )
    assert values == pytest.approx(expected)


def test_cosine_annealing_documented_example() -> None:
    """ignite's docstring: start 0.0, end 1.0, cycle 4 prints 0.0, 0.1464..., 0.4999..., 0.8535..."""
    optimizer = make_optimizer()
    values = run(CosineAnnealingScheduler(optimizer, "lr", 0.0, 1.0, 4), optimizer, 4)
    assert values == pytest.approx([0.0, 0.1464466, 0.5, 0.8535534], abs=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_value": 1.0, "end_value": 0.1, "cycle_size": 7},
        {"start_value": 0.9, "end_value": 0.5, "cycle_size": 7, "cycle_mult": 1.3, "start_value_mult": 0.9},
        {"start_value": 1.0, "end_value": 0.1, "cycle_size": 4, "warmup_duration": 3, "start_value_mult": 0.5},
        {"start_value": 1.0, "end_value": 0.1, "cycle_size": 4, "end_value_mult": 2.0, "cycle_mult": 2},
    ],
)
def test_cosine_annealing_against_the_formula_on_momentum(kwargs: dict[str, Any]) -> None:
    """Any param group entry can be scheduled; here the momentum."""
    optimizer = make_optimizer()
    values = run(CosineAnnealingScheduler(optimizer, "momentum", **kwargs), optimizer, 40, entry="momentum")
    expected = cyclical(
        half_cosine,
        40,
        kwargs["start_value"],
        kwargs["end_value"],
        kwargs["cycle_size"],
        kwargs.get("cycle_mult", 1.0),
        kwargs.get("start_value_mult", 1.0),
        kwargs.get("end_value_mult", 1.0),
        kwargs.get("warmup_duration", 0),
    )
    assert values == pytest.approx(expected)


def test_concat_scheduler_documented_example() -> None:
    """ignite's docstring: linear 0 -> 1 (cycle 8) for 4 events, then cosine 1.0 -> 0.2 (cycle 4)."""
    optimizer = make_optimizer()
    scheduler = ConcatScheduler(
        [
            LinearCyclicalScheduler(optimizer, "lr", 0.0, 1.0, 8),
            CosineAnnealingScheduler(optimizer, "lr", 1.0, 0.2, 4),
        ],
        durations=[4],
    )
    values = run(scheduler, optimizer, 8)
    cosine = [half_cosine(1.0, 0.2, index / 4) for index in range(4)]
    assert values == pytest.approx([0.0, 0.25, 0.5, 0.75, *cosine])
    assert values[5:] == pytest.approx([0.8828427, 0.6, 0.3171572])


def test_lr_scheduler_ignite_form_documented_timing() -> None:
    """ignite's docstring: StepLR(step_size=3, gamma=0.1) at ITERATION_STARTED prints 0.1 x3, 0.01 x3, 0.001 x2.

    The i-th iteration trains with what i - 1 torch steps give: lr0 * gamma ** ((i - 1) // 3).
    """
    optimizer = make_optimizer()
    values = run(LRScheduler(StepLR(optimizer, step_size=3, gamma=0.1)), optimizer, 8)
    assert values == pytest.approx([0.1 * 0.1 ** (index // 3) for index in range(8)])


def test_lr_scheduler_ignite_form_drives_one_cycle_like_a_hand_written_loop() -> None:
    """Where torch has the schedule, ignite's form gives the rates of a torch loop (optimizer.step, then step)."""
    optimizer = make_optimizer()
    by_hand_optimizer = make_optimizer()
    by_hand = OneCycleLR(by_hand_optimizer, max_lr=1.0, total_steps=30)
    expected = []
    for _ in range(30):
        expected.append(by_hand_optimizer.param_groups[0]["lr"])
        by_hand_optimizer.step()
        by_hand.step()
    assert run(LRScheduler(OneCycleLR(optimizer, max_lr=1.0, total_steps=30)), optimizer, 30) == pytest.approx(expected)


def test_lr_scheduler_use_legacy_at_iteration_completed() -> None:
    """use_legacy=True steps at every event: at ITERATION_COMPLETED the rate after i steps is read."""
    optimizer = make_optimizer()
    scheduler = LRScheduler(ExponentialLR(optimizer, gamma=0.9), use_legacy=True)
    trainer = Engine(lambda engine, batch: optimizer.step())
    scheduler.attach(trainer)  # legacy: ITERATION_COMPLETED
    seen: list[float] = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda: seen.append(optimizer.param_groups[0]["lr"]))
    trainer.run([0] * 6)
    assert seen == pytest.approx([0.1 * 0.9**index for index in range(6)])


def test_cosine_annealing_warm_restarts_starts_one_step_ahead_as_in_ignite() -> None:
    """ignite wraps CosineAnnealingWarmRestarts so that its first event already gives step 1's rate."""
    optimizer = make_optimizer()
    values = run(LRScheduler(CosineAnnealingWarmRestarts(optimizer, T_0=5, T_mult=2, eta_min=0.01)), optimizer, 16)
    expected = []
    period, position = 5, 1  # T_cur after the first step
    for _ in range(16):
        expected.append(0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * position / period)) / 2)
        position += 1
        if position >= period:
            position, period = position - period, period * 2
    assert values == pytest.approx(expected)


def test_warmup_with_a_torch_scheduler_documented_example() -> None:
    """ignite's docstring: ExponentialLR(gamma=0.98) after a warm-up 0.0 -> 0.1 over 3 events."""
    optimizer = make_optimizer()
    scheduler = create_lr_scheduler_with_warmup(
        ExponentialLR(optimizer, gamma=0.98), warmup_start_value=0.0, warmup_end_value=0.1, warmup_duration=3
    )
    values = run(scheduler, optimizer, 8)
    assert values == pytest.approx([0.0, 0.05, 0.1] + [0.1 * 0.98**index for index in range(1, 6)])
    assert values[3:6] == pytest.approx([0.098, 0.09604, 0.0941192])


def test_warmup_ending_elsewhere_than_the_scheduler_start_adds_one_event() -> None:
    """Documented note: if the scheduler starts at another rate than warmup_end_value, one more event sets it."""
    optimizer = make_optimizer()  # lr 0.1
    scheduler = create_lr_scheduler_with_warmup(
        StepLR(optimizer, step_size=3, gamma=0.5), warmup_start_value=0.0, warmup_duration=4, warmup_end_value=0.2
    )
    values = run(scheduler, optimizer, 14)
    warmup = [0.2 * index / 3 for index in range(4)]
    # then 0.1 for one event, then StepLR continuing from its first step on: steps 1, 2, ... of 0.1 * 0.5 ** (k // 3)
    after = [0.1] + [0.1 * 0.5 ** (step // 3) for step in range(1, 10)]
    assert values == pytest.approx(warmup + after)


def test_warmup_before_a_parameter_scheduler_that_starts_at_the_warmup_end() -> None:
    """Documented rule: the warm-up stops one step short of a start value it shares with the scheduler."""
    optimizer = make_optimizer()
    cosine = CosineAnnealingScheduler(optimizer, "lr", 0.1, 0.0, 10)
    values = run(create_lr_scheduler_with_warmup(cosine, 0.0, 4, warmup_end_value=0.1), optimizer, 12)
    step = 0.1 / 3
    warmup = [0.0, step, 2 * step]  # milestones (0, 0.0), (2, 0.1 - step)
    assert values == pytest.approx(warmup + [half_cosine(0.1, 0.0, index / 10) for index in range(9)])


def test_warmup_output_simulated_values() -> None:
    optimizer = make_optimizer()
    simulated: list[Any] = [None] * 8
    create_lr_scheduler_with_warmup(ExponentialLR(optimizer, gamma=0.9), 0.0, 4, output_simulated_values=simulated)
    warmup = [0.1 * index / 3 for index in range(4)]
    expected = warmup + [0.1 * 0.9**index for index in range(1, 5)]
    assert [row[0] for row in simulated] == list(range(8))
    assert [row[1] for row in simulated] == pytest.approx(expected)
    assert optimizer.param_groups[0]["lr"] == 0.1  # the simulation left the optimizer as it was


def test_param_group_scheduler_sets_each_group_and_names_the_history() -> None:
    optimizer = make_optimizer(groups=2)
    first = [(0, 0.0), (5, 1.0)]
    scheduler = ParamGroupScheduler(
        [
            PiecewiseLinear(optimizer, "lr", first, param_group_index=0),
            CosineAnnealingScheduler(optimizer, "lr", 1.0, 0.0, 6, param_group_index=1),
        ],
        names=["lr_head", "lr_body"],
        save_history=True,
    )
    trainer = Engine(lambda engine, batch: optimizer.step())
    trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    state = trainer.run([0] * 8)
    expected_first = [linear_between(first, event) for event in range(8)]
    expected_second = cyclical(half_cosine, 8, 1.0, 0.0, 6)
    assert [row[0] for row in state.param_history["lr_head"]] == pytest.approx(expected_first)
    assert [row[0] for row in state.param_history["lr_body"]] == pytest.approx(expected_second)


def test_save_history_records_every_event_in_engine_state() -> None:
    optimizer = make_optimizer()
    scheduler = LinearCyclicalScheduler(optimizer, "lr", 0.0, 1.0, 4, save_history=True)
    trainer = Engine(lambda engine, batch: None)
    scheduler.attach(trainer)  # ignite 0.5.4's attach: ITERATION_STARTED
    state = trainer.run([0] * 5)
    assert state.param_history["lr"] == [[0.0], [0.5], [1.0], [0.5], [0.0]]


def test_reduce_lr_on_plateau_documented_example() -> None:
    """ignite's docstring: mode="min", factor=0.5, patience=3, threshold_mode="rel" on [10, 5, 3, 4, 4, 4, 5, 1]."""
    values = ReduceLROnPlateauScheduler.simulate_values(
        8, [10, 5, 3, 4, 4, 4, 5, 1], 0.1, mode="min", factor=0.5, patience=3, threshold_mode="rel"
    )
    assert [row[1] for row in values] == pytest.approx([0.1] * 6 + [0.05, 0.05])


def test_reduce_lr_on_plateau_on_an_evaluator_changes_only_its_param_group() -> None:
    optimizer = make_optimizer(groups=2)
    trainer = Engine(lambda engine, batch: None)
    evaluator = Engine(lambda engine, batch: None)
    scheduler = ReduceLROnPlateauScheduler(
        optimizer, "accuracy", trainer=trainer, save_history=True, param_group_index=1, mode="max", patience=0
    )
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.7])
    evaluator.add_event_handler(Events.COMPLETED, lambda engine: engine.state.metrics.update(accuracy=next(scores)))
    scheduler.attach(evaluator)  # at COMPLETED of each evaluation, after the metric is stored
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([0]))
    trainer.run([0], max_epochs=5)
    # torch's rule (patience 0, factor 0.1): each evaluation that is not a new best lowers the rate tenfold
    assert [row[0] for row in trainer.state.param_history["lr"]] == pytest.approx([0.1, 0.1, 0.01, 0.001, 0.001])
    assert optimizer.param_groups[0]["lr"] == 0.1


# ---------------------------------------------------------------- state dicts, simulation, plots

SCHEDULES: list[Callable[[torch.optim.Optimizer], Any]] = [
    lambda opt: PiecewiseLinear(opt, "lr", [(0, 1.0), (7, 0.0)]),
    lambda opt: LinearCyclicalScheduler(opt, "lr", 0.0, 1.0, 4, cycle_mult=2),
    lambda opt: CosineAnnealingScheduler(opt, "lr", 1.0, 0.0, 3, warmup_duration=2, start_value_mult=0.5),
    lambda opt: LRScheduler(StepLR(opt, step_size=2, gamma=0.5)),
    lambda opt: create_lr_scheduler_with_warmup(ExponentialLR(opt, gamma=0.8), 0.0, 3),
    lambda opt: ParamGroupScheduler([PiecewiseLinear(opt, "lr", [(0, 1.0), (7, 0.0)])]),
]


@pytest.mark.parametrize("make", SCHEDULES)
def test_state_dict_resumes_the_schedule_at_the_same_values(make: Callable[[torch.optim.Optimizer], Any]) -> None:
    optimizer = make_optimizer()
    uninterrupted = run(make(optimizer), optimizer, 12)
    optimizer = make_optimizer()
    first = make(optimizer)
    before = run(first, optimizer, 5)
    saved, saved_optimizer = first.state_dict(), optimizer.state_dict()
    optimizer = make_optimizer()
    resumed = make(optimizer)
    optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved)
    assert before + run(resumed, optimizer, 7) == pytest.approx(uninterrupted)


def test_reduce_lr_on_plateau_state_dict_keeps_the_count() -> None:
    optimizer = make_optimizer()
    scheduler = ReduceLROnPlateauScheduler(optimizer, "loss", patience=1)
    engine = Engine(lambda engine, batch: None)
    for loss in [1.0, 2.0]:
        engine.state.metrics["loss"] = loss
        scheduler(engine)
    resumed = ReduceLROnPlateauScheduler(optimizer, "loss", patience=1)
    resumed.load_state_dict(scheduler.state_dict())
    resumed(engine)  # a second bad evaluation after the best: patience 1 is exhausted
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_simulate_values_match_a_run_and_leave_the_optimizer_alone() -> None:
    simulated = CosineAnnealingScheduler.simulate_values(
        10, param_name="lr", start_value=1.0, end_value=0.0, cycle_size=4
    )
    assert [row[0] for row in simulated] == list(range(10))
    assert [row[1] for row in simulated] == pytest.approx(cyclical(half_cosine, 10, 1.0, 0.0, 4))
    optimizer = make_optimizer()
    torch_scheduler = StepLR(optimizer, 3, 0.5)
    simulated = LRScheduler.simulate_values(7, torch_scheduler)
    assert [row[1] for row in simulated] == pytest.approx([0.1 * 0.5 ** (index // 3) for index in range(7)])
    assert optimizer.param_groups[0]["lr"] == 0.1 and torch_scheduler.last_epoch == 0


def test_plot_values_draws_the_simulated_schedule() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    axes = PiecewiseLinear.plot_values(10, param_name="lr", milestones_values=[(0, 0.0), (9, 0.9)])
    line = axes.get_lines()[0]
    assert list(line.get_xdata()) == list(range(10))
    assert [float(value) for value in line.get_ydata()] == pytest.approx([0.1 * index for index in range(10)])


def test_ember_form_of_lr_scheduler_keeps_its_timing() -> None:
    """ember's LRScheduler(scheduler, optimizer) steps after each iteration, like a hand-written torch loop."""
    optimizer = make_optimizer()
    LRScheduler(StepLR(optimizer, step_size=3, gamma=0.1), optimizer).attach(trainer := Engine(lambda e, b: None))
    seen: list[float] = []
    trainer.add_event_handler(Events.ITERATION_STARTED, lambda: seen.append(optimizer.param_groups[0]["lr"]))
    state = trainer.run([0] * 7)
    assert seen == pytest.approx([0.1 * 0.1 ** (index // 3) for index in range(7)])
    assert state.lr == pytest.approx([0.1 * 0.1 ** (7 // 3)])
    assert isinstance(LRScheduler(StepLR(optimizer, 1)), ParamScheduler)


# ---------------------------------------------------------------- misuse fails when wired


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: PiecewiseLinear(o, "lr", []), ValueError, r"milestones_values must be a non-empty list"),
        (
            lambda o: PiecewiseLinear(o, "lr", [(5, 1.0), (2, 0.0)]),
            ValueError,
            r"must not decrease, but 2 comes after 5",
        ),
        (lambda o: PiecewiseLinear(o, "lr", [(0.5, 1.0)]), TypeError, r"milestone must be a whole number"),
        (lambda o: PiecewiseLinear(o, "lr", [(0, 1.0, 2)]), ValueError, r"must hold \(event_index, value\) pairs"),
        (lambda o: PiecewiseLinear(o, "lr", [(0, 1.0)], param_group_index=3), ValueError, r"out of range"),
        (lambda o: PiecewiseLinear("sgd", "lr", [(0, 1.0)]), TypeError, r"optimizer must be a torch\.optim"),
        (lambda o: CosineAnnealingScheduler(o, "lr", 1.0, 0.0, 1), ValueError, r"cycle_size must be .* >= 2"),
        (
            lambda o: LinearCyclicalScheduler(o, "lr", 1.0, 0.0, 4, warmup_duration=2),
            ValueError,
            r"warmup_duration=2 needs monotonic=True",
        ),
        (
            lambda o: ConcatScheduler([PiecewiseLinear(o, "lr", [(0, 1.0)])], durations=[]),
            ValueError,
            r"at least two schedulers",
        ),
        (
            lambda o: ConcatScheduler(
                [PiecewiseLinear(o, "lr", [(0, 1.0)]), PiecewiseLinear(make_optimizer(), "lr", [(0, 1.0)])], [2]
            ),
            ValueError,
            r"must all set the same optimizer",
        ),
        (
            lambda o: ConcatScheduler(
                [PiecewiseLinear(o, "lr", [(0, 1.0)]), PiecewiseLinear(o, "momentum", [(0, 1.0)])], [2]
            ),
            ValueError,
            r"must all set the same parameter, got \['lr', 'momentum'\]",
        ),
        (
            lambda o: ConcatScheduler([PiecewiseLinear(o, "lr", [(0, 1.0)])] * 2, [2, 3]),
            ValueError,
            r"2 schedulers need 1 durations",
        ),
        (lambda o: create_lr_scheduler_with_warmup(StepLR(o, 1), 0.0, 1), ValueError, r"at least 2 events"),
        (lambda o: create_lr_scheduler_with_warmup("StepLR", 0.0, 3), TypeError, r"lr_scheduler must be"),
        (lambda o: LRScheduler("StepLR"), TypeError, r"lr_scheduler must be a torch\.optim\.lr_scheduler"),
        (
            lambda o: LRScheduler(torch.optim.lr_scheduler.ReduceLROnPlateau(o)),
            TypeError,
            r"one-argument form .* does not take a ReduceLROnPlateau\. Use ReduceLROnPlateauScheduler",
        ),
        (lambda o: ReduceLROnPlateauScheduler(o, 3), TypeError, r"metric_name must be the name of a metric"),
        (lambda o: ReduceLROnPlateauScheduler(o, "loss", pateince=2), TypeError, r"passes scheduler_kwargs"),
        (
            lambda o: LRScheduler(torch.optim.lr_scheduler.ReduceLROnPlateau(o), o, metric=lambda engine, extra: 0.0),
            TypeError,
            r"metric has parameters \(engine, extra\) but will be called as metric\(engine\)",
        ),
    ],
)
def test_misuse_fails_at_construction(
    make: Callable[[torch.optim.Optimizer], Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make(make_optimizer())


def test_a_missing_plateau_metric_fails_with_the_names_there() -> None:
    scheduler = ReduceLROnPlateauScheduler(make_optimizer(), "accuracy")
    engine = Engine(lambda engine, batch: None)
    engine.state.metrics["loss"] = 1.0
    with pytest.raises(KeyError, match=r"watches the metric 'accuracy', but engine.state.metrics has only \['loss'\]"):
        scheduler(engine)


def test_attaching_a_scheduler_twice_is_refused() -> None:
    trainer = Engine(lambda engine, batch: None)
    scheduler = PiecewiseLinear(make_optimizer(), "lr", [(0, 1.0)])
    scheduler.attach(trainer)
    with pytest.raises(RuntimeError, match=r"PiecewiseLinear is already attached to this engine"):
        scheduler.attach(trainer, Events.EPOCH_STARTED)


def _linear(optimizer: torch.optim.Optimizer | None = None) -> PiecewiseLinear:
    return PiecewiseLinear(optimizer or make_optimizer(), "lr", [(0, 1.0), (10, 0.0)])


@pytest.mark.parametrize(
    "make",
    [
        _linear,
        lambda: LinearCyclicalScheduler(make_optimizer(), "lr", 1.0, 0.0, 4),
        lambda: ConcatScheduler([_linear(shared := make_optimizer()), _linear(shared)], durations=[3]),
        lambda: ParamGroupScheduler([_linear(), _linear()], names=["a", "b"]),
        lambda: LRScheduler(torch.optim.lr_scheduler.StepLR(make_optimizer(), step_size=1)),
    ],
)
def test_a_scheduler_added_twice_to_an_event_is_refused(make: Callable[[], Any]) -> None:
    trainer = Engine(lambda engine, batch: None)
    scheduler = make()
    trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    with pytest.raises(RuntimeError, match=r"was added more than once to ITERATION_STARTED.*Add it once"):
        trainer.run([0, 0, 0], max_epochs=1)
    assert trainer.state.iteration == 1


def test_a_scheduler_added_once_runs_again_in_a_fresh_run_without_complaint() -> None:
    trainer = Engine(lambda engine, batch: None)
    scheduler = _linear()
    trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    trainer.add_event_handler(Events.EPOCH_STARTED, scheduler)  # another event: a different count
    trainer.run([0], max_epochs=1)
    trainer.run([0], max_epochs=1)  # a fresh run fires ITERATION_STARTED with iteration 1 again
    assert scheduler.event_index == 4


def test_a_param_name_the_groups_lack_is_created_as_in_ignite_with_a_warning() -> None:
    """ignite's docs schedule e.g. "lr (base)": the entry is created at the first event; ember warns about it."""
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD([{"params": model.weight}, {"params": model.bias}], lr=0.1)
    with pytest.warns(
        UserWarning, match=r"param_name='lr \(fc\)' is not an entry of the optimizer's param group\(s\) \[1\]"
    ):
        scheduler = LinearCyclicalScheduler(optimizer, "lr (fc)", 0.0, 1.0, 4, param_group_index=1)
    scheduler(None)
    scheduler(None)
    assert optimizer.param_groups[1]["lr (fc)"] == 0.5 and "lr (fc)" not in optimizer.param_groups[0]
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.1]


def test_lr_scheduler_ignite_form_computes_the_rates_as_ignite() -> None:
    """get_lr() at the scheduler's last_epoch, then last_epoch + 1: ExponentialLR's first event already applies gamma.

    (So ignite 0.5.5 does with this PyTorch, whose ExponentialLR.get_lr applies gamma at every call after creation;
    tests/differential/test_handlers.py compares every torch scheduler with ignite's.)
    """
    optimizer = make_optimizer()
    torch_scheduler = ExponentialLR(optimizer, gamma=0.5)
    # a torch whose schedulers mark their construction step (LRScheduler._is_initial; 2.7 has not) applies gamma at
    # the first get_lr(); an older one keeps the rate at last_epoch 0, and so do ignite and ember with it
    rates = [0.05, 0.025, 0.0125, 0.00625] if hasattr(torch_scheduler, "_is_initial") else [0.1, 0.05, 0.025, 0.0125]
    assert run(LRScheduler(torch_scheduler), optimizer, 4) == pytest.approx(rates)
    assert torch_scheduler.last_epoch == 4


def test_lr_scheduler_ignite_form_state_dict_has_ignites_keys() -> None:
    optimizer = make_optimizer()
    scheduler = LRScheduler(StepLR(optimizer, step_size=3, gamma=0.1))
    assert sorted(scheduler.state_dict()) == [
        "event_index",
        "lr_scheduler",
        "param_group_index",
        "param_name",
        "save_history",
    ]


def test_lr_scheduler_ignite_form_loads_a_state_dict_of_an_earlier_ember() -> None:
    """Earlier ember stepped the torch scheduler from the second event on; such a state dict continues the same."""
    optimizer = make_optimizer()
    reference = run(LRScheduler(StepLR(optimizer, step_size=3, gamma=0.1)), optimizer, 9)
    old_optimizer = make_optimizer()
    old_torch = StepLR(old_optimizer, step_size=3, gamma=0.1)
    for _ in range(4):  # 5 events of the earlier ember: its first kept the rate, the 4 others stepped
        old_optimizer.step()
        old_torch.step()
    saved = {"event_index": 5, "_step_at_first_event": False, "lr_scheduler": old_torch.state_dict()}
    resumed_optimizer = make_optimizer()
    resumed = LRScheduler(StepLR(resumed_optimizer, step_size=3, gamma=0.1))
    resumed_optimizer.load_state_dict(old_optimizer.state_dict())
    resumed.load_state_dict(saved)
    assert run(resumed, resumed_optimizer, 4) == pytest.approx(reference[5:])


def test_concat_scheduler_warns_about_a_later_duration_of_zero() -> None:
    """ember skips such a scheduler where ignite 0.5.5 would stay on it: the difference is said at creation."""
    optimizer = make_optimizer()
    schedulers = [LinearCyclicalScheduler(optimizer, "lr", 0.0, 1.0, 4) for _ in range(3)]
    with pytest.warns(UserWarning, match=r"schedulers\[1\] have a duration of 0, so ember skips them"):
        ConcatScheduler(schedulers, durations=[2, 0])


def test_reduce_lr_on_plateau_warns_about_min_lr_of_a_later_group() -> None:
    optimizer = make_optimizer(groups=2)
    with pytest.warns(UserWarning, match=r"ignite 0\.5\.5 ignores min_lr for any param group but 0"):
        ReduceLROnPlateauScheduler(optimizer, "loss", param_group_index=1, min_lr=0.01)
