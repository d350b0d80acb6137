"""Timer and ThroughputMonitor on real runs, timed by a fake clock that the steps advance (exact values, no sleeps).

One test runs on the real clock, to check that the handlers read :func:`time.perf_counter` by default.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import ember.handlers.timing
from ember.engine import Engine, Events
from ember.handlers import ThroughputMonitor, Timer, batch_size_of


class FakeClock:
    """A clock that stands still until a test advances it (as a step or a handler that takes time would)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock Timer and ThroughputMonitor read (they call ``time.perf_counter`` of their module)."""
    fake = FakeClock()
    monkeypatch.setattr(ember.handlers.timing, "time", SimpleNamespace(perf_counter=fake))
    return fake


def timed_step(clock: FakeClock, seconds: float) -> Any:
    def step(engine: Engine, batch: Any) -> Any:
        clock.advance(seconds)
        return batch

    return step


# ---------------------------------------------------------------- Timer


def test_average_time_per_iteration_counts_between_resume_and_pause_and_from_start(clock: FakeClock) -> None:
    """Time spent fetching a batch is left out, but for the first one: as in ignite, start resets the timer running."""
    engine = Engine(timed_step(clock, 0.005))
    engine.add_event_handler(Events.GET_BATCH_COMPLETED, lambda: clock.advance(0.1))
    timer = Timer(average=True).attach(
        engine,
        start=Events.EPOCH_STARTED,
        resume=Events.ITERATION_STARTED,
        pause=Events.ITERATION_COMPLETED,
        step=Events.ITERATION_COMPLETED,
    )
    engine.run(range(4))
    assert timer.steps == 4
    # the first fetch counts: it comes after EPOCH_STARTED, before the first ITERATION_STARTED; the others do not
    assert timer.total == pytest.approx(0.1 + 4 * 0.005)
    assert timer.value() == pytest.approx(timer.total / 4)
    assert not timer.running


def test_total_time_of_a_run_on_the_real_clock() -> None:
    """The real clock: the sleeps are a lower bound, the wall time around the run an upper one."""

    def step(engine: Engine, batch: Any) -> None:
        time.sleep(0.01)

    engine = Engine(step)
    timer = Timer().attach(engine, start=Events.STARTED, pause=Events.COMPLETED)
    start = time.perf_counter()
    engine.run(range(3))
    wall = time.perf_counter() - start
    assert 0.03 <= timer.value() <= wall


def test_total_time_of_a_run(clock: FakeClock) -> None:
    engine = Engine(timed_step(clock, 0.01))
    timer = Timer().attach(engine, start=Events.STARTED, pause=Events.COMPLETED)
    engine.add_event_handler(Events.COMPLETED, lambda: clock.advance(1.0))  # after the pause: not counted
    engine.run(range(3))
    assert timer.value() == pytest.approx(0.03)


def test_start_event_resets_each_epoch() -> None:
    engine = Engine()
    timer = Timer(average=True).attach(engine, start=Events.EPOCH_STARTED, step=Events.ITERATION_COMPLETED)
    engine.run(range(5), max_epochs=3)
    assert timer.steps == 5


def test_paused_timer_does_not_count(clock: FakeClock) -> None:
    timer = Timer()
    clock.advance(0.01)
    timer.pause()
    paused_at = timer.value()
    clock.advance(0.01)
    assert timer.value() == paused_at == pytest.approx(0.01)
    timer.resume()
    clock.advance(0.01)
    assert timer.value() == pytest.approx(paused_at + 0.01)


def test_average_without_steps_is_the_total() -> None:
    timer = Timer(average=True)
    timer.pause()
    assert timer.value() == timer.total


def test_timer_state_dict_round_trip_continues_counting(clock: FakeClock) -> None:
    engine = Engine(timed_step(clock, 0.005))
    timer = Timer(average=True).attach(engine, start=Events.STARTED, step=Events.ITERATION_COMPLETED)
    engine.run(range(3))
    saved = timer.state_dict()
    assert saved["steps"] == 3 and saved["elapsed"] == pytest.approx(0.015)

    restored = Timer(average=True)
    restored.load_state_dict(saved)
    assert not restored.running
    assert (restored.total, restored.steps) == (saved["elapsed"], 3)
    clock.advance(1.0)  # a restored timer is paused: this does not count
    restored.resume()
    clock.advance(0.005)
    restored.step()
    restored.pause()
    assert restored.total == pytest.approx(saved["elapsed"] + 0.005)
    assert restored.value() == pytest.approx(restored.total / 4)


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ([1, 2], TypeError, r"expects a mapping, got list"),
        ({"elapsed": 1.0}, ValueError, r"misses the keys \['steps'\]"),
        ({"elapsed": "1", "steps": 2}, TypeError, r"state_dict\['elapsed'\] must be a number, got '1' \(str\)"),
        ({"elapsed": 1.0, "steps": 2.5}, TypeError, r"state_dict\['steps'\] must be a whole number, got 2.5"),
        ({"elapsed": -1.0, "steps": 2}, ValueError, r"state_dict\['elapsed'\] must be >= 0, got -1.0"),
    ],
)
def test_timer_load_state_dict_rejects_bad_input(state: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Timer().load_state_dict(state)


def test_timer_attach_errors() -> None:
    engine = Engine()
    with pytest.raises(TypeError, match=r"Timer.attach expects an ember Engine, got 'trainer' \(str\)"):
        Timer().attach("trainer")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"got no event at all .* Pass at least start="):
        Timer().attach(engine, start=None, pause=None)
    with pytest.raises(TypeError, match=r"average must be True or False, got average=1"):
        Timer(average=1)  # type: ignore[arg-type]


def test_ignite_defaults_time_the_whole_run_and_stop_at_completed(clock: FakeClock) -> None:
    """ignite's attach(engine) resets at STARTED and pauses at COMPLETED: the value stays put after the run."""
    engine = Engine(timed_step(clock, 0.002))
    clock.advance(5.0)  # before the run: not counted
    timer = Timer().attach(engine)
    engine.run(range(5))
    assert not timer.is_running and not timer.running
    after_run = timer.value()
    clock.advance(0.01)
    assert timer.value() == after_run == pytest.approx(0.01)


def test_ignite_method_names_and_handler_form() -> None:
    """reset/pause/resume/step accept the engine (as ignite's do when added as handlers); reset returns the timer."""
    engine = Engine(lambda engine, batch: None)
    timer = Timer(average=True)
    assert timer.reset(engine) is timer and timer.is_running
    engine.add_event_handler(Events.ITERATION_COMPLETED, timer.step)
    engine.add_event_handler(Events.COMPLETED, timer.pause)
    engine.run(range(4))
    assert timer.step_count == timer.steps == 4
    assert timer.value() == pytest.approx(timer.total / 4)
    timer.resume(engine)
    assert timer.is_running


def test_timer_unknown_event_attaches_nothing() -> None:
    """An unregistered event fails before any handler is added, so the engine is left as it was."""
    engine = Engine()
    timer = Timer()
    with pytest.raises(ValueError, match=r"step='my_event' is not an event registered on this engine"):
        timer.attach(engine, start=Events.STARTED, step="my_event")
    assert not engine.has_event_handler(timer.reset)
    timer.attach(engine)  # the failed attach did not count as attached


def test_timer_attached_twice_is_refused() -> None:
    engine = Engine()
    timer = Timer().attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached to an engine; .* Create one Timer per engine"):
        timer.attach(engine)


# ---------------------------------------------------------------- batch_size_of


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (torch.zeros(8, 3), 8),
        ((torch.zeros(5, 2), torch.zeros(5)), 5),
        ({"image": torch.zeros(3, 1, 2, 2), "label": torch.zeros(3)}, 3),
        ([{"x": torch.zeros(7)}], 7),
        (torch.tensor(1.0), 1),
        ([1, 2, 3, 4], 4),
        (("a", "b"), 2),
    ],
)
def test_batch_size_of(batch: Any, expected: int) -> None:
    assert batch_size_of(batch) == expected


@pytest.mark.parametrize("batch", [{"text": ["a", "b"]}, 3, None])
def test_batch_size_of_rejects_batches_without_a_size(batch: Any) -> None:
    with pytest.raises(TypeError, match=r"Cannot tell the batch size of a .* Pass batch_size=fn to ThroughputMonitor"):
        batch_size_of(batch)


# ---------------------------------------------------------------- ThroughputMonitor


def test_throughput_counts_samples_from_the_batches(clock: FakeClock) -> None:
    batches = [torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(2, 2)]
    engine = Engine(timed_step(clock, 0.01))
    monitor = ThroughputMonitor().attach(engine)
    engine.run(batches, max_epochs=2)
    assert (monitor.samples, monitor.iterations) == (10, 3)  # the last epoch's window
    metrics = engine.state.metrics
    assert metrics["samples_per_second"] / metrics["iterations_per_second"] == pytest.approx(10 / 3)
    assert metrics["iterations_per_second"] == pytest.approx(100)  # each iteration takes 10 ms
    assert metrics["samples_per_second"] == pytest.approx(10 / 0.03)


def test_throughput_with_a_batch_size_function() -> None:
    engine = Engine()
    monitor = ThroughputMonitor(batch_size=lambda batch: len(batch["ids"])).attach(engine)
    engine.run([{"ids": [1, 2, 3]}, {"ids": [4]}])
    assert (monitor.samples, monitor.iterations) == (4, 2)
    assert monitor.samples_per_second == pytest.approx(4 * monitor.iterations_per_second / 2)


def test_throughput_batch_without_size_fails_with_the_fix() -> None:
    engine = Engine()
    ThroughputMonitor().attach(engine)
    with pytest.raises(TypeError, match=r"Cannot tell the batch size of a dict without tensors"):
        engine.run([{"text": "a"}])


def test_throughput_survives_interrupt_and_resume(clock: FakeClock) -> None:
    engine = Engine(timed_step(clock, 0.01))
    monitor = ThroughputMonitor().attach(engine)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.interrupt())
    engine.run([torch.zeros(3)] * 4)
    assert monitor.iterations == 2
    paused = monitor.elapsed
    assert paused == pytest.approx(0.02)
    clock.advance(10.0)
    assert monitor.elapsed == paused  # the clock stops while the run is paused
    engine.run()
    assert (monitor.samples, monitor.iterations) == (12, 4)
    # the clock starts again with the first iteration after the resume (at the latest when it completes)
    assert paused + 0.01 - 1e-9 <= monitor.elapsed <= paused + 0.02 + 1e-9


def test_throughput_state_dict_round_trip() -> None:
    monitor = ThroughputMonitor()
    monitor.reset()
    monitor.update(torch.zeros(6))
    saved = monitor.state_dict()
    assert (saved["samples"], saved["iterations"]) == (6, 1)
    restored = ThroughputMonitor()
    restored.load_state_dict(saved)
    assert (restored.samples, restored.iterations, restored.elapsed) == (6, 1, saved["elapsed"])
    restored.update(torch.zeros(2))
    assert restored.samples == 8


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ("x", TypeError, r"ThroughputMonitor.load_state_dict expects a mapping, got str"),
        ({"samples": 1, "iterations": 1}, ValueError, r"misses the keys \['elapsed'\]"),
        ({"samples": -1, "iterations": 1, "elapsed": 0.0}, ValueError, r"state_dict\['samples'\] must be >= 0"),
        ({"samples": True, "iterations": 1, "elapsed": 0.0}, TypeError, r"state_dict\['samples'\] must be a whole"),
    ],
)
def test_throughput_load_state_dict_rejects_bad_input(state: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ThroughputMonitor().load_state_dict(state)


def test_throughput_attach_errors() -> None:
    with pytest.raises(TypeError, match=r"batch_size must be a function batch -> number of samples, got 32"):
        ThroughputMonitor(batch_size=32)  # type: ignore[arg-type]
    engine = Engine()
    monitor = ThroughputMonitor().attach(engine)
    with pytest.raises(RuntimeError, match=r"This ThroughputMonitor is already attached"):
        monitor.attach(engine)
    with pytest.raises(TypeError, match=r"batch_size has parameters \(engine, batch\) but will be called as"):
        ThroughputMonitor(batch_size=lambda engine, batch: 1)


def test_throughput_global_samples_is_the_epochs_count_in_one_process() -> None:
    engine = Engine()
    monitor = ThroughputMonitor(batch_size=len).attach(engine)
    assert monitor.global_samples is None
    engine.run([[1, 2], [3, 4, 5]])
    assert monitor.global_samples == monitor.samples == 5


def test_total_is_the_finished_stretches_and_value_adds_the_running_one(clock: FakeClock) -> None:
    """ignite's total and step_count: the time of the stretches ended by pause, and a float count."""
    timer = Timer()
    clock.advance(0.01)
    assert timer.total == 0.0 and timer.value() == pytest.approx(0.01)
    timer.pause()
    assert timer.total == timer.value() == pytest.approx(0.01)
    timer.step()
    assert timer.step_count == 1.0 and isinstance(timer.step_count, float) and timer.steps == 1
