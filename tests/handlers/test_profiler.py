"""HandlersProfiler on real runs: its parts add up to the run's time and land where the time went.

The runs are timed by a fake clock that the data, the step and the handlers advance (as their work
would), so the figures are exact and nothing sleeps; one test runs on the real clock.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import ember.handlers.profiler
from ember.engine import Engine, Events
from ember.handlers import BasicTimeProfiler, HandlersProfiler, HandlersTimeProfiler, Profile

# binary fractions, so that the fake clock adds them up exactly
DATA_SLEEP = 2**-7  # 7.8 ms
PROCESS_SLEEP = 2**-6  # 15.6 ms
HANDLER_SLEEP = 2**-8  # 3.9 ms
BATCHES = 8


class FakeClock:
    """A clock that stands still until the code under test advances it (with :func:`sleep`)."""

    def __init__(self) -> None:
        self.now = 1024.0
        self.active = True

    def __call__(self) -> float:
        return self.now if self.active else time.perf_counter()


CLOCK = FakeClock()
REAL_CLOCK_TESTS = {"test_totals_add_up_to_the_wall_time_of_the_run"}


def sleep(seconds: float) -> None:
    """Take ``seconds`` on the clock the profilers read: advance the fake one, or really sleep."""
    if CLOCK.active:
        CLOCK.now += seconds
    else:
        time.sleep(seconds)


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The profilers read the fake clock (they read ``time.perf_counter`` when they attach), but in REAL_CLOCK_TESTS."""
    CLOCK.active = request.node.originalname not in REAL_CLOCK_TESTS
    if CLOCK.active:
        monkeypatch.setattr(ember.handlers.profiler, "time", SimpleNamespace(perf_counter=CLOCK))


class SlowData:
    """Data whose batches take DATA_SLEEP seconds each to load."""

    def __len__(self) -> int:
        return BATCHES

    def __iter__(self) -> Iterator[int]:
        for index in range(BATCHES):
            sleep(DATA_SLEEP)
            yield index


def slow_step(engine: Engine, batch: Any) -> int:
    sleep(PROCESS_SLEEP)
    return int(batch)


def log_loss(engine: Engine) -> None:
    sleep(HANDLER_SLEEP)


def profiled_engine() -> tuple[Engine, HandlersProfiler]:
    engine = Engine(slow_step)
    engine.add_event_handler(Events.ITERATION_COMPLETED, log_loss)
    profiler = HandlersProfiler()
    profiler.attach(engine)
    return engine, profiler


def row(profile: Profile, handler: str, event: str) -> Any:
    rows = [entry for entry in profile.handlers if entry.handler == handler and entry.event == event]
    assert len(rows) == 1, profile.table()
    return rows[0]


def test_totals_add_up_to_the_wall_time_of_the_run() -> None:
    engine, profiler = profiled_engine()
    start = CLOCK()
    engine.run(SlowData(), max_epochs=2)
    wall = CLOCK() - start
    profile = profiler.profile()
    assert profile.total == pytest.approx(wall, rel=0.05)
    assert profile.total <= wall
    parts = profile.data_loading + profile.process_function + profile.engine + profile.handlers_total
    assert parts == pytest.approx(profile.total)


def test_time_lands_in_the_right_part() -> None:
    engine, profiler = profiled_engine()
    engine.run(SlowData(), max_epochs=2)
    profile = profiler.profile()
    iterations = 2 * BATCHES
    assert profile.iterations == iterations
    # On the fake clock each part holds exactly the time taken in it, and the engine's bookkeeping takes none.
    assert profile.data_loading == pytest.approx(iterations * DATA_SLEEP)
    assert profile.process_function == pytest.approx(iterations * PROCESS_SLEEP)
    handler = row(profile, "log_loss", "ITERATION_COMPLETED")
    assert handler.calls == iterations
    assert handler.seconds == pytest.approx(iterations * HANDLER_SLEEP)
    assert profile.events()["ITERATION_COMPLETED"] == pytest.approx(handler.seconds)
    assert profile.engine == 0.0


def test_custom_events_fired_by_the_process_function_stay_in_it() -> None:
    """A custom event's handlers are handler time; the rest of the process function stays process time."""
    engine = Engine()

    def step(engine: Engine, batch: Any) -> None:
        sleep(PROCESS_SLEEP)
        engine.fire_event("backward_done")
        sleep(PROCESS_SLEEP)

    engine = Engine(step)
    engine.register_events("backward_done")
    engine.add_event_handler("backward_done", log_loss)
    profiler = HandlersProfiler()
    profiler.attach(engine)
    engine.run(range(4))
    profile = profiler.profile()
    assert profile.process_function >= 4 * 2 * PROCESS_SLEEP
    assert row(profile, "log_loss", "backward_done").calls == 4


def test_an_evaluator_run_is_the_time_of_the_handler_that_runs_it() -> None:
    trainer = Engine()
    evaluator = Engine(slow_step)

    def validate(engine: Engine) -> None:
        evaluator.run(range(3))

    trainer.add_event_handler(Events.EPOCH_COMPLETED, validate)
    profiler = HandlersProfiler()
    profiler.attach(trainer)
    trainer.run(range(5), max_epochs=2)
    profile = profiler.profile()
    entry = row(
        profile, "test_an_evaluator_run_is_the_time_of_the_handler_that_runs_it.<locals>.validate", "EPOCH_COMPLETED"
    )
    assert entry.calls == 2 and entry.seconds >= 2 * 3 * PROCESS_SLEEP
    assert profile.process_function < PROCESS_SLEEP  # the trainer's own step does nothing


def test_interrupted_and_resumed_run_is_one_profile_without_the_pause() -> None:
    engine, profiler = profiled_engine()
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=5), lambda e: e.interrupt())
    start = CLOCK()
    engine.run(SlowData())
    first = CLOCK() - start
    sleep(0.125)  # the user's pause is not part of the run
    start = CLOCK()
    engine.run()
    second = CLOCK() - start
    profile = profiler.profile()
    assert profile.iterations == BATCHES
    assert row(profile, "log_loss", "ITERATION_COMPLETED").calls == BATCHES
    assert profile.total == pytest.approx(first + second, rel=0.05)


def test_a_new_run_starts_a_new_profile() -> None:
    engine, profiler = profiled_engine()
    engine.run(SlowData())
    engine.run(SlowData(), max_epochs=1)
    assert profiler.profile().iterations == BATCHES
    assert row(profiler.profile(), "log_loss", "ITERATION_COMPLETED").calls == BATCHES


def test_a_failed_run_is_profiled_up_to_the_failure() -> None:
    def fail_at_three(engine: Engine, batch: Any) -> None:
        sleep(PROCESS_SLEEP)
        if engine.state.iteration == 3:
            raise ZeroDivisionError("boom")

    engine = Engine(fail_at_three)
    profiler = HandlersProfiler()
    profiler.attach(engine)
    start = CLOCK()
    with pytest.raises(ZeroDivisionError):
        engine.run(range(10))
    wall = CLOCK() - start
    profile = profiler.profile()
    assert profile.iterations == 3
    assert profile.process_function >= 3 * PROCESS_SLEEP
    assert profile.total == pytest.approx(wall, rel=0.05, abs=0.05)
    sleep(0.5)
    # The failed run goes on where it stopped (as in ignite): its STARTED begins a new profile, without the pause.
    start = CLOCK()
    state = engine.run(range(10))
    wall = CLOCK() - start
    assert profiler.profile().iterations == state.iteration - 3
    # the profile covers this run's wall time only: with the 0.5 s pause it would exceed it by 0.5 s
    assert profiler.profile().total == pytest.approx(wall, rel=0.05, abs=0.05)


def test_table_shows_parts_events_and_handlers() -> None:
    engine, profiler = profiled_engine()
    engine.run(SlowData())
    table = profiler.table()
    for text in ("data loading", "process function", "handlers", "engine", "ITERATION_COMPLETED", "log_loss"):
        assert text in table
    assert f"over {BATCHES} iterations" in table
    handler_line = next(line for line in table.splitlines() if line.startswith("log_loss"))
    assert f" {BATCHES} " in handler_line


def test_table_is_written_when_the_run_completes() -> None:
    stream = io.StringIO()
    engine = Engine(slow_step)
    profiler = HandlersProfiler()
    profiler.attach(engine, file=stream)
    engine.run(range(3))
    assert "process function" in stream.getvalue()
    assert "over 3 iterations" in stream.getvalue()


def test_detach_stops_profiling() -> None:
    engine, profiler = profiled_engine()
    engine.run(SlowData())
    profiler.detach()
    engine.run(range(2))
    assert profiler.profile().iterations == BATCHES
    profiler.attach(engine)  # a detached profiler can be attached again


def test_attach_errors() -> None:
    profiler = HandlersProfiler()
    with pytest.raises(TypeError, match=r"HandlersProfiler.attach expects an ember Engine, got 1 \(int\)"):
        profiler.attach(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"file must be a text stream with a write method, got 'x' \(str\)"):
        profiler.attach(Engine(), file="x")  # type: ignore[arg-type]
    engine = Engine()
    profiler.attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached to an engine. Create one profiler per engine"):
        profiler.attach(engine)


def test_the_profiler_leaves_other_handler_wrappers_in_place() -> None:
    """It adds its wrapper beside a tracer's (engine.add_handler_wrapper); detach removes only its own."""
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED, log_loss)
    traced: list[str] = []

    def tracer(event: Any, handler: Any, call: Any) -> Any:
        def traced_call(engine: Engine, *values: Any) -> Any:
            if handler is log_loss:
                traced.append(event.name)
            return call(engine, *values)

        return traced_call

    engine.add_handler_wrapper(tracer)
    profiler = HandlersProfiler()
    profiler.attach(engine)
    engine.run(range(3))
    assert traced == ["ITERATION_COMPLETED"] * 3
    assert row(profiler.profile(), "log_loss", "ITERATION_COMPLETED").calls == 3
    profiler.detach()
    engine.run(range(2))
    assert traced == ["ITERATION_COMPLETED"] * 5  # the tracer still runs


# ---------------------------------------------------------------- ignite's reports


def test_basic_time_profiler_results_print_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine(slow_step)
    engine.add_event_handler(Events.ITERATION_COMPLETED, log_loss)
    profiler = BasicTimeProfiler()
    profiler.attach(engine)
    engine.run(SlowData(), max_epochs=2)
    iterations = 2 * BATCHES

    results = profiler.get_results()
    processing, dataflow = results["processing_stats"], results["dataflow_stats"]
    assert processing["total"] >= iterations * PROCESS_SLEEP
    assert processing["mean"] >= PROCESS_SLEEP and dataflow["mean"] >= DATA_SLEEP
    assert 0 <= processing["min/index"][1] < iterations and processing["min/index"][0] <= processing["mean"]
    assert processing["std"] >= 0
    handlers = results["event_handlers_stats"]
    assert handlers["ITERATION_COMPLETED"]["total"] >= iterations * HANDLER_SLEEP
    assert handlers["COMPLETED"] == {"total": "not yet triggered"}  # no handler of the user there
    assert handlers["total_time"] >= handlers["ITERATION_COMPLETED"]["total"]
    assert results["event_handlers_names"]["ITERATION_COMPLETED_names"] == ["log_loss"]
    assert results["event_handlers_names"]["STARTED_names"] == []

    text = BasicTimeProfiler.print_results(results)
    assert text in capsys.readouterr().out
    assert "Processing function:" in text and "- Events.ITERATION_COMPLETED: ['log_loss']" in text

    path = tmp_path / "time_profiling.csv"
    profiler.write_results(path)
    with path.open() as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == [
        "epoch",
        "iteration",
        "processing_stats",
        "dataflow_stats",
        "Event_STARTED",
        "Event_COMPLETED",
        "Event_EPOCH_STARTED",
        "Event_EPOCH_COMPLETED",
        "Event_ITERATION_STARTED",
        "Event_ITERATION_COMPLETED",
        "Event_GET_BATCH_STARTED",
        "Event_GET_BATCH_COMPLETED",
    ]
    assert [int(r["epoch"]) for r in rows] == [1] * BATCHES + [2] * BATCHES
    assert [int(r["iteration"]) for r in rows] == list(range(1, iterations + 1))
    assert all(float(r["processing_stats"]) >= PROCESS_SLEEP for r in rows)
    assert all(float(r["Event_ITERATION_COMPLETED"]) >= HANDLER_SLEEP for r in rows)


def test_handlers_time_profiler_results_print_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Engine(slow_step)
    engine.add_event_handler(Events.ITERATION_COMPLETED, log_loss)
    engine.add_event_handler(Events.COMPLETED, log_loss)
    engine.add_event_handler(Events.TERMINATE, log_loss)  # never fires
    profiler = HandlersTimeProfiler()
    profiler.attach(engine)
    engine.run(SlowData(), max_epochs=2)
    iterations = 2 * BATCHES

    results = profiler.get_results()
    by_name = {(r[0], r[1]): r for r in results}
    handler_row = by_name[("log_loss", "ITERATION_COMPLETED")]
    assert handler_row[2] >= iterations * HANDLER_SLEEP
    assert handler_row[3][0] >= HANDLER_SLEEP and 0 <= handler_row[3][1] < iterations
    assert handler_row[5] == pytest.approx(handler_row[2] / iterations, abs=1e-4)
    assert by_name[("log_loss", "TERMINATE")][2:] == [
        "not triggered",
        ("None", "None"),
        ("None", "None"),
        "None",
        "None",
    ]
    assert [r[0] for r in results[-3:]] == ["Total", "Processing", "Dataflow"]
    assert results[-3][2] >= handler_row[2]
    assert results[-2][2] >= iterations * PROCESS_SLEEP and results[-1][2] >= iterations * DATA_SLEEP

    text = HandlersTimeProfiler.print_results(results)
    assert text in capsys.readouterr().out
    assert "Handler" in text and "log_loss" in text and "Processing took total" in text

    path = tmp_path / "handlers.csv"
    profiler.write_results(path)
    with path.open() as stream:
        rows = list(csv.reader(stream))
    assert rows[0][:3] == ["#", "processing_stats", "dataflow_stats"]
    assert "log_loss (ITERATION_COMPLETED)" in rows[0] and "log_loss (COMPLETED)" in rows[0]
    assert len(rows) == 1 + iterations
    column = rows[0].index("log_loss (COMPLETED)")
    assert float(rows[1][column]) >= HANDLER_SLEEP and float(rows[2][column]) == 0.0  # one call, padded with zeros
