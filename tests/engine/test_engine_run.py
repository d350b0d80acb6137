"""How run() walks the data: lengths, iterators, max_iters, resume, state_dict, handlers, freeing, tracing."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from ember.engine import Engine, Events, State
from ember.engine.engine import RemovableEventHandle


def collect(engine: Engine) -> list[Any]:
    batches: list[Any] = []
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: batches.append(e.state.batch))
    return batches


def test_output_and_batch_are_kept_in_state() -> None:
    state = Engine(lambda engine, batch: batch * 10).run([1, 2, 3])
    assert (state.output, state.batch, state.iteration, state.epoch) == (30, 3, 3, 1)
    assert isinstance(state, State)


def test_engine_without_process_function_outputs_the_batch() -> None:
    assert Engine().run(["a", "b"]).output == "b"


def test_epoch_length_shorter_than_data_continues_the_same_pass() -> None:
    engine = Engine(lambda engine, batch: None)
    batches = collect(engine)
    engine.run(range(5), max_epochs=3, epoch_length=2)
    assert batches == [0, 1, 2, 3, 4, 0]


def test_generator_without_epoch_length_learns_it_when_it_runs_out() -> None:
    engine = Engine(lambda engine, batch: None)
    lengths: list[int | None] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: lengths.append(e.state.epoch_length))
    state = engine.run(iter(range(4)))
    assert (state.iteration, state.epoch_length, lengths) == (4, 4, [4])


def test_one_shot_iterator_that_runs_dry_ends_each_later_epoch_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """As pytorch-ignite 0.5.5: each epoch that finds the data dry ends at once, with a warning."""
    engine = Engine(lambda engine, batch: None)
    rows: list[str] = []
    for event in (Events.TERMINATE, Events.EPOCH_COMPLETED, Events.COMPLETED):
        engine.add_event_handler(event, lambda e, name=event.name: rows.append(name))
    with caplog.at_level(logging.WARNING), pytest.warns(UserWarning, match="can provide no more batches") as caught:
        state = engine.run(iter(range(3)), max_epochs=3)
    assert caught[0].filename == __file__  # the warning points at the run() call
    assert (state.iteration, state.epoch) == (3, 3)
    assert rows == ["EPOCH_COMPLETED", "EPOCH_COMPLETED", "EPOCH_COMPLETED", "COMPLETED"]
    assert "can provide no more batches" in caplog.text


def test_iterable_dataset_with_epoch_length_restarts_each_epoch() -> None:
    class Counting(IterableDataset[int]):
        def __iter__(self) -> Iterator[int]:
            return iter(range(3))

    engine = Engine(lambda engine, batch: None)
    batches = collect(engine)
    engine.run(DataLoader(Counting(), batch_size=None), max_epochs=2)
    assert [int(b) for b in batches] == [0, 1, 2, 0, 1, 2]


def test_real_dataloader_batches() -> None:
    dataset = TensorDataset(torch.arange(10.0).unsqueeze(1), torch.arange(10))
    engine = Engine(lambda engine, batch: batch[1].sum().item())
    outputs: list[int] = []
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(e.state.output))
    engine.run(DataLoader(dataset, batch_size=4), max_epochs=2)
    assert outputs == [6, 22, 17, 6, 22, 17]


def test_max_iters_may_end_mid_epoch() -> None:
    engine = Engine(lambda engine, batch: None)
    epochs: list[tuple[int, int]] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: epochs.append((e.state.epoch, e.state.iteration)))
    terminated: list[int] = []
    engine.add_event_handler(Events.TERMINATE, lambda e: terminated.append(e.state.iteration))
    state = engine.run(range(4), max_iters=10)
    # as pytorch-ignite 0.5.5: max_iters within an epoch ends the run as terminate() does (no EPOCH_COMPLETED)
    assert epochs == [(1, 4), (2, 8)]
    assert terminated == [10]
    assert (state.max_epochs, state.max_iters) == (None, 10)  # one limit at a time, as in pytorch-ignite


def test_max_iters_with_unknown_length() -> None:
    state = Engine(lambda engine, batch: None).run(iter(range(100)), max_iters=7)
    assert (state.iteration, state.epoch) == (7, 1)


def test_no_data_with_epoch_length_passes_none() -> None:
    seen: list[Any] = []
    state = Engine(lambda engine, batch: seen.append(batch)).run(epoch_length=3, max_epochs=2)
    assert seen == [None] * 6 and state.iteration == 6


def test_handlers_may_replace_the_batch_before_the_process_function() -> None:
    engine = Engine(lambda engine, batch: batch)
    engine.add_event_handler(Events.GET_BATCH_COMPLETED, lambda e: setattr(e.state, "batch", e.state.batch + 100))
    engine.add_event_handler(Events.ITERATION_STARTED, lambda e: setattr(e.state, "batch", e.state.batch * 2))
    assert engine.run([1, 2]).output == 204


def test_times_are_recorded() -> None:
    state = Engine(lambda engine, batch: None).run(range(3), max_epochs=2)
    assert state.times["EPOCH_COMPLETED"] is not None and state.times["EPOCH_COMPLETED"] >= 0
    assert state.times["COMPLETED"] is not None and state.times["COMPLETED"] >= state.times["EPOCH_COMPLETED"]


def test_state_dict_round_trip_resumes_mid_epoch() -> None:
    """A run resumed from a mid-epoch state dict sees the same batches as an uninterrupted run."""
    full = Engine(lambda engine, batch: None)
    expected = collect(full)
    full.run(range(5), max_epochs=3)

    first = Engine(lambda engine, batch: None)
    seen = collect(first)
    saved: dict[str, Any] = {}
    first.add_event_handler(Events.ITERATION_COMPLETED(once=7), lambda e: saved.update(e.state_dict()))
    first.add_event_handler(Events.ITERATION_COMPLETED(once=7), lambda e: e.terminate())
    first.run(range(5), max_epochs=3)
    assert saved["iteration"] == 7 and saved["epoch_completed"] is False

    second = Engine(lambda engine, batch: None)
    rest = collect(second)
    fired: list[str] = []
    for event in (Events.STARTED, Events.EPOCH_STARTED):
        second.add_event_handler(event, lambda e, name=event.name: fired.append(f"{name} {e.state.epoch}"))
    second.load_state_dict(saved)
    second.run(range(5))
    assert seen + rest == expected
    assert fired == ["STARTED 2", "EPOCH_STARTED 3"], "a partly run epoch gets no second EPOCH_STARTED"


def test_resume_at_last_iteration_of_an_epoch_fires_its_epoch_completed() -> None:
    engine = Engine(lambda engine, batch: None)
    ends: list[int] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: ends.append(e.state.epoch))
    engine.load_state_dict(
        {"iteration": 4, "epoch": 2, "epoch_length": 2, "max_epochs": 3, "max_iters": None, "epoch_completed": False}
    )
    engine.run(range(2))
    assert ends == [2, 3]


def test_data_with_iter_from_is_positioned_without_fetching() -> None:
    class Positioned:
        def __init__(self) -> None:
            self.starts: list[int] = []

        def __len__(self) -> int:
            return 10

        def __iter__(self) -> Iterator[int]:
            return self.iter_from(0)

        def iter_from(self, position: int) -> Iterator[int]:
            self.starts.append(position)
            return iter(range(position, 10))

    data = Positioned()
    engine = Engine(lambda engine, batch: None)
    batches = collect(engine)
    engine.load_state_dict({"iteration": 13, "epoch": 2, "epoch_length": 10, "max_epochs": 2, "max_iters": None})
    engine.run(data)
    assert data.starts == [3] and batches == list(range(3, 10))


def test_user_keys_round_trip() -> None:
    engine = Engine(lambda engine, batch: None)
    engine.state_dict_user_keys.append("best")
    engine.state.best = 0.5
    engine.run(range(2))
    saved = engine.state_dict()
    other = Engine(lambda engine, batch: None)
    other.state_dict_user_keys.append("best")
    other.load_state_dict(saved)
    assert other.state.best == 0.5


def test_loaded_complete_run_does_nothing_unless_extended() -> None:
    engine = Engine(lambda engine, batch: None)
    batches = collect(engine)
    engine.load_state_dict({"iteration": 4, "epoch": 2, "epoch_length": 2, "max_epochs": 2, "max_iters": None})
    engine.run(range(2))
    assert batches == []
    engine.run(range(2), max_epochs=3)
    assert batches == [0, 1] and engine.state.epoch == 3


def test_handlers_run_in_registration_order_and_take_args() -> None:
    calls: list[Any] = []
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.STARTED, lambda e, tag, n=0: calls.append((tag, n)), "first", n=1)
    engine.add_event_handler(Events.STARTED, lambda: calls.append("no engine"))
    engine.add_event_handler(Events.STARTED, lambda e: calls.append(type(e).__name__))
    engine.run([1])
    assert calls == [("first", 1), "no engine", "Engine"]


def test_removable_handle_and_context_manager() -> None:
    engine = Engine(lambda engine, batch: None)
    seen: list[int] = []

    def note(engine: Engine) -> None:
        seen.append(engine.state.epoch)

    handle = engine.add_event_handler(Events.EPOCH_COMPLETED, note)
    assert isinstance(handle, RemovableEventHandle)
    assert engine.has_event_handler(note) and engine.has_event_handler(note, Events.EPOCH_COMPLETED)
    assert not engine.has_event_handler(note, Events.STARTED)
    handle.remove()
    handle.remove()  # a second remove is harmless
    assert not engine.has_event_handler(note)
    with engine.add_event_handler(Events.EPOCH_COMPLETED | Events.STARTED, note):
        engine.run([1], max_epochs=2)
    assert not engine.has_event_handler(note)
    assert seen == [0, 1, 2]


def test_handle_does_not_keep_the_handler_alive() -> None:
    engine = Engine(lambda engine, batch: None)

    class Handler:
        def __call__(self, engine: Engine) -> None:
            return None

    handler = Handler()
    handle = engine.add_event_handler(Events.STARTED, handler)
    engine.remove_event_handler(handler, Events.STARTED)
    reference = weakref.ref(handler)
    del handler
    assert reference() is None
    handle.remove()


def test_bound_method_handlers_are_found_and_removed() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def bump(self, engine: Engine) -> None:
            self.count += 1

    counter = Counter()
    engine = Engine(lambda engine, batch: None)
    handle = engine.add_event_handler(Events.ITERATION_COMPLETED, counter.bump)
    assert engine.has_event_handler(counter.bump, Events.ITERATION_COMPLETED)
    engine.run(range(3))
    handle.remove()
    engine.run(range(3))
    assert counter.count == 3


def test_engine_with_handlers_is_freed_without_the_garbage_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        engine = Engine(lambda engine, batch: None)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), lambda e: None)
        engine.add_event_handler(Events.EPOCH_COMPLETED | Events.STARTED, lambda: None)
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.interrupt())
        engine.run(range(4))  # interrupted: holds a live data iterator
        handle = engine.add_event_handler(Events.COMPLETED, lambda e: None)
        reference = weakref.ref(engine)
        del engine
        assert reference() is None
        handle.remove()  # the engine is gone: nothing to do
    finally:
        gc.enable()


def test_debug_logging_traces_every_event(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(lambda engine, batch: None)
    with caplog.at_level(logging.DEBUG, logger="ember.engine.engine.Engine"):
        engine.run(range(2))
    lines = [record.getMessage() for record in caplog.records if record.levelno == logging.DEBUG]
    assert lines[:3] == [
        "Events.STARTED: epoch=0 iteration=0",
        "Events.EPOCH_STARTED: epoch=1 iteration=0",
        "Events.GET_BATCH_STARTED: epoch=1 iteration=0",
    ]
    assert "Events.ITERATION_COMPLETED: epoch=1 iteration=2" in lines
    assert lines[-1] == "Events.COMPLETED: epoch=1 iteration=2"


def test_no_trace_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ember.engine.engine.Engine"):
        Engine(lambda engine, batch: None).run(range(2))
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]


def test_exception_raised_handlers_all_run_and_the_error_propagates() -> None:
    calls: list[str] = []

    def failing(engine: Engine, error: BaseException) -> None:
        calls.append("failing")
        raise RuntimeError("handler broke")

    engine = Engine(lambda engine, batch: 1 / 0)
    engine.add_event_handler(Events.EXCEPTION_RAISED, failing)
    engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, error: calls.append(type(error).__name__))
    with pytest.raises(ZeroDivisionError) as raised:
        engine.run([1])
    assert calls == ["failing", "ZeroDivisionError"]
    assert any("handler broke" in note for note in getattr(raised.value, "__notes__", []))


def test_keyboard_interrupt_is_not_swallowed() -> None:
    def step(engine: Engine, batch: int) -> None:
        raise KeyboardInterrupt

    engine = Engine(step)
    seen: list[str] = []
    engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, error: seen.append(type(error).__name__))
    with pytest.raises(KeyboardInterrupt):
        engine.run([1])
    assert seen == ["KeyboardInterrupt"]


def test_run_after_an_exception_starts_a_new_run() -> None:
    fail = [True]

    def step(engine: Engine, batch: int) -> None:
        if fail[0] and batch == 2:
            raise ValueError("once")

    engine = Engine(step)
    with pytest.raises(ValueError):
        engine.run(range(4))
    fail[0] = False
    state = engine.run(range(4))
    assert (state.iteration, state.epoch) == (4, 1)


def test_custom_events_are_per_engine() -> None:
    first, second = Engine(lambda e, b: None), Engine(lambda e, b: None)
    first.register_events("custom", event_to_attr={"custom": "custom_count"})
    assert first.has_registered_events("custom") and not second.has_registered_events("custom")
    assert first.state.custom_count == 0 and not hasattr(second.state, "custom_count")
    with pytest.raises(ValueError):
        second.add_event_handler("custom", lambda e: None)


def test_handler_wrapper_sees_every_call_and_can_be_removed() -> None:
    seen: list[tuple[str, str, int]] = []
    engine = Engine(lambda engine, batch: None)

    def every_other(engine: Engine) -> None:
        return None

    def on_start(engine: Engine, tag: str) -> None:
        engine.state.tag = tag

    engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), every_other)

    def wrapper(event: Events, handler: Any, call: Any) -> Any:
        def wrapped(engine: Engine, *values: Any) -> None:
            seen.append((event.name, handler.__name__, engine.state.iteration))
            call(engine, *values)

        return wrapped

    engine.set_handler_wrapper(wrapper)
    engine.add_event_handler(Events.STARTED, on_start, "x")  # attached after: wrapped too
    engine.run(range(4))
    assert seen == [
        ("STARTED", "on_start", 0),
        ("ITERATION_COMPLETED", "every_other", 2),
        ("ITERATION_COMPLETED", "every_other", 4),
    ]
    assert engine.state.tag == "x"
    assert engine.has_event_handler(every_other, Events.ITERATION_COMPLETED)
    engine.set_handler_wrapper(None)
    seen.clear()
    engine.run(range(4))
    assert seen == []
    with pytest.raises(TypeError, match="wrapper must be callable"):
        engine.set_handler_wrapper(3)  # type: ignore[arg-type]


def test_a_terminated_run_resumed_from_its_checkpoint_continues_with_the_next_epoch() -> None:
    """As the engine that saved it would (and as pytorch-ignite does): ignite's Ctrl+C idiom saves on terminate()."""

    def build() -> tuple[Engine, list[dict[str, Any]], list[int]]:
        engine = Engine(lambda engine, batch: None)
        saved: list[dict[str, Any]] = []
        batches: list[int] = []
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: batches.append(e.state.batch))
        return engine, saved, batches

    first, saved, _ = build()
    first.add_event_handler(Events.EPOCH_COMPLETED(once=2), lambda e: e.terminate())  # e.g. early stopping
    first.add_event_handler(Events.EPOCH_COMPLETED, lambda e: saved.append(e.state_dict()))  # a checkpoint
    first.run(range(3), max_epochs=5)
    assert [s["terminated"] for s in saved] == [False, True]

    second, _, batches = build()
    second.load_state_dict(saved[-1])
    state = second.run(range(3), max_epochs=5)
    assert batches == [0, 1, 2] * 3 and (state.epoch, state.iteration) == (5, 15)

    third, _, batches = build()
    third.load_state_dict(saved[0])  # before the stop: resumes normally
    third.run(range(3), max_epochs=5)
    assert len(batches) == 12 and third.state.epoch == 5  # epochs 2 to 5
