"""pytorch-ignite's engine behaviours that ember reproduces: written from ignite's documentation and
checked side by side against pytorch-ignite 0.5.5 when they were written."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from ember.engine import Engine, Events, State


def noop(engine: Engine, batch: Any) -> None:
    return None


# ------------------------------------------------------------------ EXCEPTION_RAISED


def test_one_parameter_exception_handler_receives_the_exception() -> None:
    engine = Engine(lambda e, b: 1 / 0)
    seen: list[BaseException] = []
    engine.add_event_handler(Events.EXCEPTION_RAISED, lambda exception: seen.append(exception))
    with pytest.raises(ZeroDivisionError):
        engine.run([1])
    assert len(seen) == 1 and isinstance(seen[0], ZeroDivisionError)


def test_a_handler_that_only_logs_never_swallows_the_error() -> None:
    engine = Engine(lambda e, b: 1 / 0)
    engine.add_event_handler(Events.EXCEPTION_RAISED, lambda engine, exception: None)
    with pytest.raises(ZeroDivisionError):
        engine.run([1])


def test_ignite_graceful_keyboard_interrupt_idiom() -> None:
    """The handler terminates on KeyboardInterrupt and re-raises anything else: run() returns the state."""
    saved: list[int] = []

    def step(engine: Engine, batch: int) -> None:
        if engine.state.iteration == 3:
            raise KeyboardInterrupt

    engine = Engine(step)

    @engine.on(Events.EXCEPTION_RAISED)
    def handle(engine: Engine, e: BaseException) -> None:
        if isinstance(e, KeyboardInterrupt) and engine.state.iteration > 1:
            engine.terminate()
            saved.append(engine.state.iteration)
        else:
            raise e

    events: list[str] = []
    for event in (Events.TERMINATE, Events.COMPLETED):
        engine.add_event_handler(event, lambda e, name=event.name: events.append(name))
    state = engine.run(range(5), max_epochs=2)
    assert isinstance(state, State)
    assert saved == [3]
    assert events == []  # the handler handled it: no further event fires
    # the run ended as a terminated run: a later run() continues with the next epoch
    engine.run(range(5), max_epochs=2)
    assert (engine.state.epoch, engine.state.iteration) == (2, 8)


def test_the_idiom_re_raises_other_errors_unchanged() -> None:
    engine = Engine(lambda e, b: 1 / 0)

    @engine.on(Events.EXCEPTION_RAISED)
    def handle(engine: Engine, e: BaseException) -> None:
        if isinstance(e, KeyboardInterrupt):
            engine.terminate()
        else:
            raise e

    with pytest.raises(ZeroDivisionError) as info:
        engine.run([1])
    assert not getattr(info.value, "__notes__", [])  # re-raising the same error is not a handler failure


def test_an_exception_handler_that_interrupts_makes_the_run_resumable() -> None:
    batches: list[int] = []
    failed: list[bool] = []

    def step(engine: Engine, batch: int) -> None:
        if engine.state.iteration == 2 and not failed:
            failed.append(True)
            raise RuntimeError("flaky")
        batches.append(batch)

    engine = Engine(step)
    engine.add_event_handler(Events.EXCEPTION_RAISED, lambda engine, e: engine.interrupt())
    engine.run(range(4))
    assert engine.state.iteration == 2
    engine.run(range(4))
    assert batches == [0, 2, 3]  # continues with the batch after the one that failed
    assert engine.state.iteration == 4


# ------------------------------------------------------------------ public attributes


def test_last_event_name() -> None:
    seen: dict[str, Any] = {}

    def step(engine: Engine, batch: Any) -> None:
        seen.setdefault("process", engine.last_event_name)

    engine = Engine(step)
    assert engine.last_event_name is None
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: seen.setdefault("epoch", e.last_event_name))
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: seen.setdefault("iter", e.last_event_name))
    engine.add_event_handler(
        Events.COMPLETED, lambda e: seen.setdefault("times", e.state.times[e.last_event_name.name])
    )
    engine.run(range(3))
    assert seen["process"] is Events.ITERATION_STARTED
    assert seen["epoch"] is Events.EPOCH_COMPLETED
    assert seen["iter"] is Events.ITERATION_COMPLETED
    assert isinstance(seen["times"], float)  # ignite's mnist example reads state.times[last_event_name.name]
    assert engine.last_event_name is Events.COMPLETED


def test_set_data_switches_at_the_next_batch() -> None:
    batches: list[str] = []
    engine = Engine(lambda e, b: batches.append(b))
    second = ["x", "y", "z"]
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.set_data(second))
    engine.run(["a", "b", "c", "d"], max_epochs=2)
    assert batches == ["a", "b", "x", "y", "z", "x", "y", "z"]
    assert engine.state.epoch_length == 4  # the epoch length is not changed
    with pytest.raises(TypeError, match="set_data expects an iterable"):
        engine.set_data(3)  # type: ignore[arg-type]


def test_reassigned_state_dataloader_is_used_from_the_next_pass() -> None:
    """ignite's FAQ idiom: a handler gives the engine a new finite iterator when the old one runs dry."""
    batches: list[int] = []
    engine = Engine(lambda e, b: batches.append(b))

    @engine.on(Events.DATALOADER_STOP_ITERATION)
    def refill(engine: Engine) -> None:
        engine.state.dataloader = iter(range(10, 13))

    engine.run(iter(range(3)), max_epochs=3, epoch_length=3)
    assert batches == [0, 1, 2, 10, 11, 12, 10, 11, 12]


def test_should_terminate_can_be_read_and_set() -> None:
    engine = Engine(noop)

    @engine.on(Events.ITERATION_COMPLETED(once=3))
    def stop(engine: Engine) -> None:
        assert engine.should_terminate is False
        engine.should_terminate = True
        assert engine.should_terminate is True

    engine.run(range(5), max_epochs=2)
    assert engine.state.iteration == 3
    assert engine.should_terminate is True  # as in ignite, it stays set until the next run()
    engine.run(range(5), max_epochs=2)
    assert engine.should_terminate is False


def test_should_terminate_single_epoch_can_be_set() -> None:
    engine = Engine(noop)
    engine.add_event_handler(
        Events.ITERATION_COMPLETED(once=2), lambda e: setattr(e, "should_terminate_single_epoch", True)
    )
    engine.run(range(5), max_epochs=2)
    assert engine.state.iteration == 7  # epoch 1 ended after 2 iterations


def test_logger_is_replaceable_and_logs_like_ignite(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(noop)
    engine.logger = logging.getLogger("my.trainer")
    with caplog.at_level(logging.INFO, logger="my.trainer"):
        engine.run(range(3), max_epochs=2)
        engine.run(range(3), max_epochs=3)
    messages = [r.getMessage() for r in caplog.records if r.name == "my.trainer"]
    assert messages[0] == "Engine run starting: max_epochs=2, epoch_length=3."
    assert messages[1].startswith("Epoch 1 complete in ")
    assert messages[3].startswith("Engine run finished at iteration 6, epoch 2")
    assert messages[4] == "Engine run resuming at iteration 6, epoch 2: max_epochs=3, epoch_length=3."


# ------------------------------------------------------------------ event details


def test_no_get_batch_events_without_data() -> None:
    engine = Engine(noop)
    fired: list[str] = []
    for event in (Events.GET_BATCH_STARTED, Events.GET_BATCH_COMPLETED, Events.DATALOADER_STOP_ITERATION):
        engine.add_event_handler(event, lambda e, name=event.name: fired.append(name))
    engine.run(None, max_epochs=2, epoch_length=3)
    assert fired == []
    assert engine.state.iteration == 6


def test_times_include_the_handlers_of_their_event() -> None:
    import time

    engine = Engine(noop)
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: time.sleep(0.05))
    engine.add_event_handler(Events.COMPLETED, lambda e: time.sleep(0.05))
    engine.run(range(2))
    assert engine.state.times["EPOCH_COMPLETED"] >= 0.05
    assert engine.state.times["COMPLETED"] >= 0.1


def test_distributed_sampler_gets_its_epoch_each_pass() -> None:
    """A DistributedSampler's set_epoch is called at every new pass, so each epoch is shuffled anew."""
    dataset = TensorDataset(torch.arange(8))
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=3)
    loader = DataLoader(dataset, batch_size=8, sampler=sampler)
    orders: list[list[int]] = []
    engine = Engine(lambda e, batch: orders.append(batch[0].tolist()))
    engine.run(loader, max_epochs=3)
    expected = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        expected.append(list(iter(sampler)))
    assert orders == expected
    assert orders[0] != orders[1]


def test_several_handler_wrappers_nest() -> None:
    engine = Engine(noop)
    calls: list[str] = []

    def tagged(tag: str) -> Any:
        def wrapper(event: Any, handler: Any, call: Any) -> Any:
            def run(engine: Engine, *values: Any) -> None:
                calls.append(tag)
                call(engine, *values)

            return run

        return wrapper

    engine.add_event_handler(Events.COMPLETED, lambda e: calls.append("handler"))
    first = engine.add_handler_wrapper(tagged("a"))
    engine.add_handler_wrapper(tagged("b"))
    engine.run([1])
    assert calls == ["b", "a", "handler"]
    calls.clear()
    first.remove()
    engine.run([1])
    assert calls == ["b", "handler"]


# ------------------------------------------------------------------ state dicts


def test_own_state_dict_of_a_fresh_engine_loads() -> None:
    engine = Engine(noop)
    other = Engine(noop)
    other.load_state_dict(engine.state_dict())
    other.run(range(2))
    assert other.state.iteration == 2


def test_own_state_dict_of_a_max_iters_run_loads_and_resumes() -> None:
    engine = Engine(noop)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: e.interrupt())
    engine.run(range(3), max_iters=7)
    other = Engine(noop)
    other.load_state_dict(engine.state_dict())
    other.run(range(3))
    assert (other.state.iteration, other.state.max_iters) == (7, 7)


@pytest.mark.parametrize(
    ("ignite_dict", "expected_iterations", "expected_batches"),
    [
        # saved by pytorch-ignite 0.5.5 after 5 of 4x3 iterations: as in ignite, epoch 2's last iteration runs
        # on a new pass over the data (ignite's Engine restarts the data; DeterministicEngine skips to batch 2)
        ({"epoch_length": 3, "iteration": 5, "max_epochs": 4}, list(range(6, 13)), [0, 1, 2, 0, 1, 2, 0]),
        # saved per epoch
        ({"epoch_length": 3, "epoch": 2, "max_epochs": 4}, list(range(7, 13)), [0, 1, 2, 0, 1, 2]),
        # a max_iters run
        ({"epoch_length": 3, "iteration": 2, "max_iters": 5}, [3, 4, 5], [0, 1, 2]),
    ],
)
def test_ignite_state_dicts_load_and_resume(
    ignite_dict: dict[str, int], expected_iterations: list[int], expected_batches: list[int]
) -> None:
    seen: list[tuple[int, int]] = []
    engine = Engine(lambda e, b: seen.append((e.state.iteration, b)))
    engine.load_state_dict(ignite_dict)
    engine.run(range(3))
    assert [i for i, _ in seen] == expected_iterations
    assert [b for _, b in seen] == expected_batches


def test_ignite_dict_without_the_user_keys_warns_and_keeps_them() -> None:
    """A trainer checkpoint written by pytorch-ignite lacks ember's extra user keys: loading warns, keeps them."""
    engine = Engine(noop)
    engine.state.optimizer_step = 0
    engine.state_dict_user_keys.append("optimizer_step")
    with pytest.warns(UserWarning, match=r"has no \['optimizer_step'\]; engine.state keeps .*optimizer_step=0"):
        engine.load_state_dict({"epoch_length": 3, "iteration": 4, "max_epochs": 2})
    assert engine.state.iteration == 4
    with pytest.raises(ValueError, match=r"misses \['optimizer_step'\]"):  # ember's own format must be complete
        engine.load_state_dict({"epoch_length": 3, "iteration": 4, "epoch": 2, "max_epochs": 2, "max_iters": None})


def test_ignite_names_importable_from_the_events_module() -> None:
    from ember.engine import RemovableEventHandle as handle_class
    from ember.engine.events import RemovableEventHandle
    from ember.engine.events import State as EventsState

    assert EventsState is State and RemovableEventHandle is handle_class


def test_the_0_1_import_path_of_the_factories_warns_and_still_works() -> None:
    import importlib
    import sys

    import ember.supervised

    sys.modules.pop("ember.engine.supervised", None)
    with pytest.warns(DeprecationWarning, match="ember.engine.supervised is deprecated"):
        module = importlib.import_module("ember.engine.supervised")
    assert module.create_supervised_trainer is ember.supervised.create_supervised_trainer
