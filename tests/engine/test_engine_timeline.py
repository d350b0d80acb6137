"""The order in which events fire, compared row by row with the timeline in Engine.run's docstring."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ember.engine import Engine, Events

ALL_EVENTS = list(Events)


def record(engine: Engine) -> list[str]:
    """Attach a recorder to every built-in event; rows read 'EVENT epoch iteration'."""
    rows: list[str] = []

    def make(event: Events) -> Any:
        def recorder(engine: Engine, *exception: BaseException) -> None:
            rows.append(f"{event.name} {engine.state.epoch} {engine.state.iteration}")

        return recorder

    for event in ALL_EVENTS:
        engine.add_event_handler(event, make(event))
    return rows


def iteration_rows(epoch: int, first: int, last: int, new_pass: bool = False) -> list[str]:
    """Rows of iterations first..last; ``new_pass``: the first fetch finds the last pass used up."""
    rows = []
    for iteration in range(first, last + 1):
        rows += [
            f"GET_BATCH_STARTED {epoch} {iteration - 1}",
            *([f"DATALOADER_STOP_ITERATION {epoch} {iteration - 1}"] if new_pass and iteration == first else []),
            f"GET_BATCH_COMPLETED {epoch} {iteration - 1}",
            f"ITERATION_STARTED {epoch} {iteration}",
            f"ITERATION_COMPLETED {epoch} {iteration}",
        ]
    return rows


def test_docstring_timeline_lists_events_in_the_order_they_fire() -> None:
    """The event names in Engine.run's timeline are the order a normal run fires them in."""
    doc = Engine.run.__doc__ or ""
    block = doc.split("Events fire in this order")[1].split("- the data runs out")[0]
    documented = [name for name in re.findall(r"\b([A-Z_]{6,})\b", block)]
    engine = Engine(lambda engine, batch: None)
    rows = record(engine)
    engine.run([0], max_epochs=1)
    fired = [row.split()[0] for row in rows]
    assert fired == documented


def test_normal_run() -> None:
    engine = Engine(lambda engine, batch: None)
    rows = record(engine)
    engine.run([10, 20], max_epochs=2)
    expected = (
        ["STARTED 0 0", "EPOCH_STARTED 1 0"]
        + iteration_rows(1, 1, 2)
        + ["EPOCH_COMPLETED 1 2", "EPOCH_STARTED 2 2"]
        + iteration_rows(2, 3, 4, new_pass=True)
        + ["EPOCH_COMPLETED 2 4", "COMPLETED 2 4"]
    )
    assert rows == expected


def test_terminate_in_iteration_completed() -> None:
    """terminate(): the rest of the event's handlers run, then TERMINATE and COMPLETED; no EPOCH_COMPLETED."""
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda e: e.terminate())
    rows = record(engine)
    engine.run(range(4), max_epochs=2)
    expected = ["STARTED 0 0", "EPOCH_STARTED 1 0"] + iteration_rows(1, 1, 3) + ["TERMINATE 1 3", "COMPLETED 1 3"]
    assert rows == expected


def test_terminate_from_process_function_still_fires_iteration_completed() -> None:
    def step(engine: Engine, batch: int) -> None:
        if engine.state.iteration == 2:
            engine.terminate()

    engine = Engine(step)
    rows = record(engine)
    engine.run(range(5))
    assert rows[-4:] == ["ITERATION_STARTED 1 2", "ITERATION_COMPLETED 1 2", "TERMINATE 1 2", "COMPLETED 1 2"]


def test_terminate_epoch() -> None:
    """terminate_epoch(): TERMINATE_SINGLE_EPOCH, EPOCH_COMPLETED, then the next epoch on a new pass (as in ignite)."""
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate_epoch())
    rows = record(engine)
    engine.run(range(3), max_epochs=2)
    expected = (
        ["STARTED 0 0", "EPOCH_STARTED 1 0"]
        + iteration_rows(1, 1, 2)
        + ["TERMINATE_SINGLE_EPOCH 1 2", "EPOCH_COMPLETED 1 2", "EPOCH_STARTED 2 2"]
        + iteration_rows(2, 3, 5)
        + ["EPOCH_COMPLETED 2 5", "COMPLETED 2 5"]
    )
    assert rows == expected
    assert batches == [0, 1, 0, 1, 2]  # the cut-short pass is left; epoch 2 starts a new one


def test_terminate_epoch_then_a_checkpoint_resumes_on_the_same_batch() -> None:
    """After terminate_epoch the passes no longer line up with the iterations; the state dict keeps the position."""
    saved: list[dict[str, Any]] = []
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate_epoch())
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: saved.append(e.state_dict()))
    engine.run(range(3), max_epochs=3)
    assert saved[0]["data_position"] == 2
    resumed_batches: list[int] = []
    resumed = Engine(lambda engine, batch: resumed_batches.append(batch))
    resumed.load_state_dict(saved[0])
    resumed.run(range(3))
    assert resumed_batches == batches[4:]


@pytest.mark.parametrize("event", [Events.STARTED, Events.EPOCH_STARTED])
def test_terminate_epoch_in_started_or_epoch_started_is_an_error(event: Events) -> None:
    """No epoch's iterations run yet there: terminate_epoch() raises a RuntimeError that says where to call it."""
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(event, lambda e: e.terminate_epoch())
    with pytest.raises(
        RuntimeError, match=r"a handler of (EPOCH_)?STARTED, where no epoch.s iterations.*iteration event"
    ):
        engine.run(range(2), max_epochs=2)


def test_terminate_epoch_skip_epoch_completed() -> None:
    """terminate_epoch(skip_epoch_completed=True): TERMINATE_SINGLE_EPOCH, but no EPOCH_COMPLETED for that epoch."""
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), lambda e: e.terminate_epoch(skip_epoch_completed=True))
    rows = record(engine)
    engine.run(range(2), max_epochs=2)
    assert rows[:8] == [
        "STARTED 0 0",
        "EPOCH_STARTED 1 0",
        *iteration_rows(1, 1, 1),
        "TERMINATE_SINGLE_EPOCH 1 1",
        "EPOCH_STARTED 2 1",
    ]


def test_terminate_skip_completed() -> None:
    """terminate(skip_completed=True): TERMINATE fires, COMPLETED does not."""
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), lambda e: e.terminate(skip_completed=True))
    rows = record(engine)
    engine.run(range(2), max_epochs=2)
    assert rows[-2:] == ["ITERATION_COMPLETED 1 1", "TERMINATE 1 1"]


def test_terminate_single_epoch_handlers_may_take_iter_counter() -> None:
    """As in pytorch-ignite, a TERMINATE_SINGLE_EPOCH handler may take iter_counter (iterations run in that epoch)."""
    engine = Engine(lambda engine, batch: None)
    seen: list[Any] = []
    engine.add_event_handler(Events.TERMINATE_SINGLE_EPOCH, lambda e, iter_counter: seen.append(iter_counter))
    engine.add_event_handler(Events.TERMINATE_SINGLE_EPOCH, lambda e: seen.append("plain"))
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=5), lambda e: e.terminate_epoch())
    engine.run(range(3), max_epochs=2)
    assert seen == [2, "plain"]


def test_interrupt_and_resume() -> None:
    """interrupt(): INTERRUPT and run() returns; the next run() continues with the next batch."""
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.interrupt())
    rows = record(engine)
    state = engine.run(range(3), max_epochs=2)
    assert (state.epoch, state.iteration) == (1, 2)
    assert rows == ["STARTED 0 0", "EPOCH_STARTED 1 0", *iteration_rows(1, 1, 2), "INTERRUPT 1 2"]
    rows.clear()
    engine.run(range(3), max_epochs=2)
    expected = (
        iteration_rows(1, 3, 3)
        + ["EPOCH_COMPLETED 1 3", "EPOCH_STARTED 2 3"]
        + iteration_rows(2, 4, 6, new_pass=True)
        + ["EPOCH_COMPLETED 2 6", "COMPLETED 2 6"]
    )
    assert rows == expected
    assert batches == [0, 1, 2, 0, 1, 2]


def test_interrupt_resumes_the_same_data_iterator() -> None:
    """A one-shot iterator is not restarted by a resume: the run continues where it paused."""
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), lambda e: e.interrupt())
    data = iter(range(6))
    engine.run(data, epoch_length=6)
    engine.run(data)
    engine.run(data)
    engine.run(data)
    assert batches == [0, 1, 2, 3, 4, 5]
    assert engine.state.iteration == 6


def test_interrupt_at_epoch_completed_resumes_with_next_epoch() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.EPOCH_COMPLETED(once=1), lambda e: e.interrupt())
    rows = record(engine)
    engine.run(range(2), max_epochs=2)
    assert rows[-2:] == ["EPOCH_COMPLETED 1 2", "INTERRUPT 1 2"]
    rows.clear()
    engine.run(range(2), max_epochs=2)
    # the same data iterator goes on (pytorch-ignite 0.5.5's rows): it ran out at the end of epoch 1
    assert rows == [
        "EPOCH_STARTED 2 2",
        "GET_BATCH_STARTED 2 2",
        "DATALOADER_STOP_ITERATION 2 2",
        "GET_BATCH_COMPLETED 2 2",
        "ITERATION_STARTED 2 3",
        "ITERATION_COMPLETED 2 3",
        *iteration_rows(2, 4, 4),
        "EPOCH_COMPLETED 2 4",
        "COMPLETED 2 4",
    ]


def test_exception_in_process_function() -> None:
    """EXCEPTION_RAISED gets the exception, then it propagates unchanged; no COMPLETED."""

    def step(engine: Engine, batch: int) -> None:
        if batch == 1:
            raise KeyError("bad batch")

    engine = Engine(step)
    rows = record(engine)
    seen: list[BaseException] = []
    engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, error: seen.append(error))
    with pytest.raises(KeyError, match="bad batch") as raised:
        engine.run(range(3))
    assert rows == [
        "STARTED 0 0",
        "EPOCH_STARTED 1 0",
        *iteration_rows(1, 1, 1),
        "GET_BATCH_STARTED 1 1",
        "GET_BATCH_COMPLETED 1 1",
        "ITERATION_STARTED 1 2",
        "EXCEPTION_RAISED 1 2",
    ]
    assert seen == [raised.value]


def test_new_run_after_completion_starts_over() -> None:
    """Run again with the same (or no) max_epochs: a new run, as an evaluator needs."""
    engine = Engine(lambda engine, batch: None)
    engine.run(range(2), max_epochs=2)
    rows = record(engine)
    engine.run(range(2), max_epochs=2)
    assert rows[:2] == ["STARTED 0 0", "EPOCH_STARTED 1 0"]
    assert rows[-1] == "COMPLETED 2 4"
    rows.clear()
    engine.run(range(2))
    assert rows == [
        "STARTED 0 0",
        "EPOCH_STARTED 1 0",
        *iteration_rows(1, 1, 2),
        "EPOCH_COMPLETED 1 2",
        "COMPLETED 1 2",
    ]


def test_larger_max_epochs_continues_a_finished_run() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.run(range(2), max_epochs=2)
    rows = record(engine)
    engine.run(range(2), max_epochs=3)
    assert rows == [
        "STARTED 2 4",
        "EPOCH_STARTED 3 4",
        *iteration_rows(3, 5, 6),  # the finished run's pass was closed: a new one starts, no DATALOADER_STOP_ITERATION
        "EPOCH_COMPLETED 3 6",
        "COMPLETED 3 6",
    ]


def test_larger_max_iters_continues_a_finished_run() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.run(range(4), max_iters=3)
    engine.run(range(4), max_iters=6)
    assert (engine.state.iteration, engine.state.epoch) == (6, 2)


def test_resetting_max_epochs_forces_a_new_run() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.run(range(2), max_epochs=3)
    engine.state.max_epochs = None
    engine.run(range(2), max_epochs=1)
    assert (engine.state.epoch, engine.state.iteration) == (1, 2)
    engine.state.max_epochs = None
    engine.run(range(2), max_iters=3)  # switching to max_iters needs the reset too
    assert (engine.state.iteration, engine.state.max_epochs, engine.state.max_iters) == (3, None, 3)


def test_run_after_terminate_continues_with_the_next_epoch() -> None:
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: e.terminate())
    engine.run(range(3), max_epochs=3)
    assert (engine.state.epoch, engine.state.iteration) == (2, 4)
    rows = record(engine)
    engine.run(range(3), max_epochs=3)
    assert rows[:2] == ["STARTED 2 4", "EPOCH_STARTED 3 4"]
    assert rows[-1] == "COMPLETED 3 7"
    assert batches == [0, 1, 2, 0, 0, 1, 2]  # the cut-short pass is left; epoch 3 starts a new one


def test_data_running_out_mid_epoch_fires_dataloader_stop_iteration() -> None:
    engine = Engine(lambda engine, batch: None)
    rows = record(engine)
    engine.run(range(2), epoch_length=3)
    assert rows[2:12] == [
        *iteration_rows(1, 1, 2),
        "GET_BATCH_STARTED 1 2",
        "DATALOADER_STOP_ITERATION 1 2",
    ]
    assert rows[12:14] == ["GET_BATCH_COMPLETED 1 2", "ITERATION_STARTED 1 3"]


def test_interrupt_before_a_fetch_does_not_fire_get_batch_started_twice() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.GET_BATCH_STARTED(once=1), lambda e: e.interrupt())
    rows = record(engine)
    engine.run(range(3))
    assert rows[-2:] == ["GET_BATCH_STARTED 1 1", "INTERRUPT 1 1"]
    rows.clear()
    engine.run(range(3))
    assert rows == [
        "GET_BATCH_COMPLETED 1 1",
        "ITERATION_STARTED 1 2",
        "ITERATION_COMPLETED 1 2",
        *iteration_rows(1, 3, 3),
        "EPOCH_COMPLETED 1 3",
        "COMPLETED 1 3",
    ]


def test_interrupt_at_the_last_epoch_completed_still_completes_on_resume() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.EPOCH_COMPLETED(once=2), lambda e: e.interrupt())
    rows = record(engine)
    engine.run(range(2), max_epochs=2)
    assert rows[-1] == "INTERRUPT 2 4"
    rows.clear()
    engine.run(range(2))
    assert rows == ["COMPLETED 2 4"]


def test_terminate_when_the_data_runs_out_stops_before_the_next_batch() -> None:
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.DATALOADER_STOP_ITERATION, lambda e: e.terminate())
    rows = record(engine)
    engine.run(range(2), epoch_length=3)
    assert rows[-4:] == ["GET_BATCH_STARTED 1 2", "DATALOADER_STOP_ITERATION 1 2", "TERMINATE 1 2", "COMPLETED 1 2"]
    assert batches == [0, 1]


def test_interrupt_when_the_data_runs_out_resumes_with_the_new_pass() -> None:
    batches: list[int] = []
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(Events.DATALOADER_STOP_ITERATION, lambda e: e.interrupt())
    rows = record(engine)
    engine.run(range(2), epoch_length=3)
    assert rows[-3:] == ["GET_BATCH_STARTED 1 2", "DATALOADER_STOP_ITERATION 1 2", "INTERRUPT 1 2"]
    assert batches == [0, 1]
    rows.clear()
    engine.run(range(2))
    assert rows == [  # pytorch-ignite 0.5.5's rows: GET_BATCH_STARTED fires again after the pause
        "GET_BATCH_STARTED 1 2",
        "GET_BATCH_COMPLETED 1 2",
        "ITERATION_STARTED 1 3",
        "ITERATION_COMPLETED 1 3",
        "EPOCH_COMPLETED 1 3",
        "COMPLETED 1 3",
    ]
    assert batches == [0, 1, 0]


def test_interrupt_when_the_data_runs_out_resumes_with_the_new_pass_of_the_same_data() -> None:
    """The same data object given again: the resumed run opens the new pass (the stopped source is left)."""
    batches: list[int] = []
    data = [0, 1]
    engine = Engine(lambda engine, batch: batches.append(batch))
    engine.add_event_handler(
        Events.DATALOADER_STOP_ITERATION, lambda e: e.interrupt() if e.state.iteration == 2 else None
    )
    engine.run(data, epoch_length=3, max_epochs=2)
    assert batches == [0, 1]
    engine.run(data)
    assert batches == [0, 1, 0, 1, 0, 1]
    assert (engine.state.epoch, engine.state.iteration) == (2, 6)


def test_terminate_epoch_that_slips_into_epoch_started_is_an_error_as_in_ignite() -> None:
    """A handler of a custom event fired from EPOCH_STARTED asks for terminate_epoch(): pytorch-ignite 0.5.5
    raises RuntimeError once EPOCH_STARTED's handlers ran (no epoch's iterations to end); so does ember."""
    engine = Engine(lambda engine, batch: None)
    engine.register_events("setup_done")
    engine.add_event_handler("setup_done", lambda e: e.terminate_epoch() if e.state.epoch == 1 else None)
    engine.add_event_handler(Events.EPOCH_STARTED, lambda e: e.fire_event("setup_done"))
    rows = record(engine)
    with pytest.raises(RuntimeError, match="a handler of EPOCH_STARTED"):
        engine.run(range(2), max_epochs=2)
    assert rows == ["STARTED 0 0", "EPOCH_STARTED 1 0", "EXCEPTION_RAISED 1 0"]
