"""TimeLimit: counted from the run's STARTED, checked after each iteration, with fake and real clocks."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from ember.engine import Engine, Events
from ember.handlers import TimeLimit


class FakeClock:
    """A clock that advances by ``tick`` seconds at each reading."""

    def __init__(self, start: float = 1000.0, tick: float = 1.0) -> None:
        self.now = start
        self.tick = tick
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        value = self.now
        self.now += self.tick
        return value


@pytest.mark.parametrize(
    ("limit", "tick", "iterations", "stops_at"),
    [
        pytest.param(3, 1.0, 10, 3, id="whole-seconds"),
        pytest.param(2.5, 1.0, 10, 3, id="stops-after-the-iteration-that-crosses-it"),
        pytest.param(1, 1.0, 10, 1, id="first-iteration"),
        pytest.param(20, 1.0, 10, 10, id="run-ends-first"),
        pytest.param(1.0, 0.25, 10, 4, id="fractions"),
    ],
)
def test_stops_at_the_first_iteration_past_the_limit(limit: float, tick: float, iterations: int, stops_at: int) -> None:
    """The clock is read once at STARTED and once after each iteration."""
    trainer = Engine(lambda engine, batch: batch)
    TimeLimit(limit, clock=FakeClock(tick=tick)).attach(trainer)
    assert trainer.run(range(iterations)).iteration == stops_at


def test_terminate_fires_then_completed() -> None:
    trainer = Engine(lambda engine, batch: batch)
    TimeLimit(2, clock=FakeClock()).attach(trainer)
    fired: list[Any] = []
    for event in (Events.TERMINATE, Events.EPOCH_COMPLETED, Events.COMPLETED):
        trainer.add_event_handler(event, lambda engine, event=event: fired.append(event))
    trainer.run(range(5), max_epochs=3)
    assert fired == [Events.TERMINATE, Events.COMPLETED]


def test_the_count_starts_at_started_not_at_construction() -> None:
    """A limit shorter than the wait before the run does not cut the run short."""
    clock = FakeClock(tick=0.0)
    limit = TimeLimit(0.2, clock=clock)
    trainer = Engine(lambda engine, batch: batch)
    limit.attach(trainer)
    clock.now += 0.3
    assert trainer.run(range(5)).iteration == 5


def test_a_run_longer_than_the_limit_is_stopped_on_a_real_clock() -> None:
    """Each iteration sleeps 20 ms against a 0.1 s limit: the run stops after at least 5 iterations, long before 500."""

    def slow_step(engine: Engine, batch: Any) -> None:
        time.sleep(0.02)

    trainer = Engine(slow_step)
    limit = TimeLimit(0.1)
    limit.attach(trainer)
    started = time.monotonic()
    state = trainer.run(range(500))
    assert 5 <= state.iteration < 500
    assert limit.elapsed >= 0.1
    assert time.monotonic() - started < 5.0


def test_each_run_gets_a_fresh_budget() -> None:
    clock = FakeClock()
    trainer = Engine(lambda engine, batch: batch)
    TimeLimit(3, clock=clock).attach(trainer)
    assert trainer.run(range(10)).iteration == 3
    clock.now += 500.0  # time between the runs does not count against the next one
    assert trainer.run(range(10)).iteration == 3


def test_the_stop_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    trainer = Engine(lambda engine, batch: batch)
    TimeLimit(2, clock=FakeClock()).attach(trainer)
    with caplog.at_level(logging.WARNING, logger="ember.handlers.time_limit"):
        trainer.run(range(10))
    assert "the run has taken 2.0 s, reaching its limit of 2.0 s at iteration 2; terminating it" in caplog.text


def test_called_directly_with_a_hand_built_engine() -> None:
    clock = FakeClock(start=0.0, tick=0.0)
    limit = TimeLimit(10, clock=clock)
    limit.started()
    clock.now = 9.0
    assert limit.elapsed == 9.0
    engine = Engine()
    fired: list[Any] = []
    engine.add_event_handler(Events.TERMINATE, lambda: fired.append("terminate"))
    limit(engine)  # 9 s < 10 s: the run goes on
    assert not fired
    # Inside a real run: the hand-started limit is reached during the first iteration.
    engine.add_event_handler(Events.ITERATION_COMPLETED, limit)
    clock.now = 10.0
    assert engine.run(range(3)).iteration == 1
    assert fired == ["terminate"]


def test_ignite_form_added_directly_counts_from_creation() -> None:
    """ignite's spelling: add_event_handler(ITERATION_COMPLETED, TimeLimit(limit_sec=...)), no attach, no STARTED."""
    clock = FakeClock(start=0.0, tick=0.0)
    limit = TimeLimit(limit_sec=5, clock=clock)  # created at t=0
    assert limit.limit_sec == limit.seconds == 5.0
    clock.now = 3.0  # time passes before the run starts: it counts, as in ignite
    trainer = Engine(lambda engine, batch: setattr(clock, "now", clock.now + 1.0))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, limit)
    assert trainer.run(range(10)).iteration == 2  # t = 4 after iteration 1, t = 5 after iteration 2


def test_ignite_default_limit_is_eight_hours() -> None:
    assert TimeLimit().seconds == 28800.0
    with pytest.raises(ValueError, match=r"seconds=10 and limit_sec=20 were both given; .* Pass only one"):
        TimeLimit(10, limit_sec=20)


def test_attaching_twice_to_the_same_engine_is_refused() -> None:
    engine = Engine()
    limit = TimeLimit(5)
    limit.attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached to this engine\. Attach it once"):
        limit.attach(engine)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: TimeLimit(0), ValueError, r"seconds must be > 0, got seconds=0\. Pass the time budget"),
        (lambda: TimeLimit(-5.0), ValueError, r"seconds must be > 0, got seconds=-5\.0"),
        (lambda: TimeLimit(float("nan")), ValueError, r"seconds must be > 0, got seconds=nan"),
        (lambda: TimeLimit("60"), TypeError, r"seconds must be a number, got seconds='60' \(str\)"),
        (lambda: TimeLimit(True), TypeError, r"seconds must be a number, got seconds=True \(bool\)"),
        (lambda: TimeLimit(5, clock=3.0), TypeError, r"clock must be a callable returning seconds, got float"),
        (lambda: TimeLimit(5).attach(None), TypeError, r"TimeLimit\.attach expects an ember Engine, got None"),
    ],
)
def test_bad_arguments_are_refused(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_has_a_logger_named_after_its_class() -> None:
    """ignite's TimeLimit has a ``logger`` attribute; ember's reports the stop through it."""
    assert TimeLimit(5).logger is logging.getLogger("ember.handlers.time_limit.TimeLimit")
