"""Event filters fire on exactly the counts a plain reference model says, on every kind of event."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.engine import Engine, EventEnum, Events

ITERATIONS = 60


def reference(
    count: int,
    every: int | None = None,
    once: frozenset[int] | None = None,
    before: int | None = None,
    after: int | None = None,
) -> bool:
    """The documented meaning of a filter, written as directly as possible (pytorch-ignite's definition).

    ``every`` alone fires on multiples of ``every``; with ``before`` and/or ``after`` it fires on the
    window's first count ``after + 1`` (``after`` defaulting to 0) and every ``every``-th count after it.
    """
    if once is not None:
        return count in once
    ok = True
    if every is not None and before is None and after is None:
        ok = count % every == 0
    elif every is not None:
        ok = (count - (after or 0) - 1) % every == 0
    if before is not None:
        ok = ok and count < before
    if after is not None:
        ok = ok and count > after
    return ok


def fired_counts(event: Events, epochs: int, epoch_length: int, **filter_args: object) -> list[int]:
    engine = Engine(lambda engine, batch: None)
    counter = "epoch" if event in (Events.EPOCH_STARTED, Events.EPOCH_COMPLETED) else "iteration"
    seen: list[int] = []
    engine.add_event_handler(event(**filter_args), lambda e: seen.append(getattr(e.state, counter)))
    engine.run(range(epoch_length), max_epochs=epochs)
    return seen


window = st.fixed_dictionaries(
    {},
    optional={
        "every": st.integers(1, 15),
        "before": st.integers(1, ITERATIONS + 5),
        "after": st.integers(0, ITERATIONS),
    },
).filter(lambda f: bool(f) and ("before" not in f or "after" not in f or f["before"] > f["after"] + 1))


@settings(max_examples=60, deadline=None)
@given(filter_args=window, event=st.sampled_from([Events.ITERATION_STARTED, Events.ITERATION_COMPLETED]))
def test_window_filters_on_iteration_events(filter_args: dict[str, int], event: Events) -> None:
    seen = fired_counts(event, epochs=3, epoch_length=ITERATIONS // 3, **filter_args)
    assert seen == [n for n in range(1, ITERATIONS + 1) if reference(n, **filter_args)]


@settings(max_examples=40, deadline=None)
@given(once=st.sets(st.integers(1, ITERATIONS + 10), min_size=1, max_size=6))
def test_once_filters_on_iteration_events(once: set[int]) -> None:
    seen = fired_counts(Events.ITERATION_COMPLETED, epochs=3, epoch_length=ITERATIONS // 3, once=sorted(once))
    assert seen == [n for n in range(1, ITERATIONS + 1) if n in once]


@settings(max_examples=40, deadline=None)
@given(filter_args=st.fixed_dictionaries({"every": st.integers(1, 4)}, optional={"after": st.integers(0, 3)}))
def test_window_filters_on_epoch_events(filter_args: dict[str, int]) -> None:
    for event in (Events.EPOCH_STARTED, Events.EPOCH_COMPLETED):
        seen = fired_counts(event, epochs=8, epoch_length=2, **filter_args)
        assert seen == [n for n in range(1, 9) if reference(n, **filter_args)]


@settings(max_examples=30, deadline=None)
@given(every=st.integers(1, 5))
def test_get_batch_events_count_the_iterations_done_so_far(every: int) -> None:
    """GET_BATCH_* fire before the iteration counter advances, so they see the previous count."""
    seen = fired_counts(Events.GET_BATCH_STARTED, epochs=1, epoch_length=12, every=every)
    assert seen == [n for n in range(0, 12) if n % every == 0]


@settings(max_examples=30, deadline=None)
@given(wanted=st.sets(st.integers(1, 30), max_size=8))
def test_event_filter_function(wanted: set[int]) -> None:
    seen = fired_counts(
        Events.ITERATION_COMPLETED, epochs=3, epoch_length=10, event_filter=lambda engine, count: count in wanted
    )
    assert seen == sorted(wanted)


def test_filters_keep_registration_order_with_plain_handlers() -> None:
    calls: list[str] = []
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda: calls.append("a"))
    engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), lambda: calls.append("b"))
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda: calls.append("c"))
    engine.run(range(4))
    assert calls == ["a", "c", "a", "b", "c", "a", "c", "a", "b", "c"]


def test_filters_count_global_iterations_across_runs_resumed_from_a_state_dict() -> None:
    seen: list[int] = []
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED(every=4), lambda e: seen.append(e.state.iteration))
    engine.load_state_dict(
        {"iteration": 10, "epoch": 2, "epoch_length": 5, "max_epochs": 4, "max_iters": None, "epoch_completed": True}
    )
    engine.run(range(5))
    assert seen == [12, 16, 20]


class StepEvents(EventEnum):
    STEP = "step"


@pytest.mark.parametrize(
    ("make_event", "expected"),
    [
        (lambda: StepEvents.STEP(every=3), [3, 6, 9]),
        (lambda: StepEvents.STEP(once=[2, 5]), [2, 5]),
        (lambda: StepEvents.STEP(before=3), [1, 2]),
        (lambda: StepEvents.STEP(after=8), [9, 10]),
    ],
)
def test_filters_on_custom_events_count_their_event_to_attr_counter(
    make_event: Callable[[], object], expected: list[int]
) -> None:
    def step(engine: Engine, batch: int) -> None:
        for _ in range(2):
            engine.state.steps += 1
            engine.fire_event(StepEvents.STEP)

    engine = Engine(step)
    engine.register_events(*StepEvents, event_to_attr={StepEvents.STEP: "steps"})
    seen: list[int] = []
    engine.add_event_handler(make_event(), lambda e: seen.append(e.state.steps))
    engine.run(range(5))
    assert seen == expected


def test_events_list_attaches_one_handler_to_each() -> None:
    seen: list[str] = []
    engine = Engine(lambda engine, batch: None)

    @engine.on(Events.STARTED | Events.ITERATION_COMPLETED(every=3) | Events.COMPLETED)
    def note(engine: Engine) -> None:
        seen.append(f"{engine.state.iteration}")

    engine.run(range(7))
    assert seen == ["0", "3", "6", "7"]


def test_handler_added_during_the_run_fires_from_the_next_due_count() -> None:
    seen: list[int] = []
    engine = Engine(lambda engine, batch: None)

    @engine.on(Events.ITERATION_COMPLETED(once=4))
    def add_more(engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), lambda e: seen.append(e.state.iteration))

    engine.run(range(10))
    assert seen == [6, 8, 10]


def test_handler_removing_itself_stops_firing() -> None:
    seen: list[int] = []
    engine = Engine(lambda engine, batch: None)

    def once_then_gone(engine: Engine) -> None:
        seen.append(engine.state.iteration)
        engine.remove_event_handler(once_then_gone, Events.ITERATION_COMPLETED)

    engine.add_event_handler(Events.ITERATION_COMPLETED(after=2), once_then_gone)
    engine.run(range(6))
    assert seen == [3]
