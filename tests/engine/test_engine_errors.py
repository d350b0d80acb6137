"""Misuse fails when it is wired, with the right exception type and a message that says how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ember.engine import Engine, EventEnum, Events


class CustomEvents(EventEnum):
    FOO = "foo"


def noop(engine: Engine, batch: Any) -> None:
    return None


def two_params(engine: Engine, extra: int) -> None:
    return None


WIRING_ERRORS: list[tuple[str, Callable[[Engine], object], type[Exception], str]] = [
    ("handler not callable", lambda e: e.add_event_handler(Events.STARTED, 42), TypeError, "handler must be callable"),
    (
        "handler signature",
        lambda e: e.add_event_handler(Events.STARTED, two_params),
        TypeError,
        r"Handler two_params has parameters \(engine: 'Engine', extra: 'int'\) but will be called as handler\(engine\)",
    ),
    (
        "handler signature with args",
        lambda e: e.add_event_handler(Events.STARTED, lambda engine: None, 1, key=2),
        TypeError,
        r"will be called as handler\(engine, 1, key=2\)",
    ),
    (
        "exception handler must take the exception",
        lambda e: e.add_event_handler(Events.EXCEPTION_RAISED, lambda a, b, c: None),
        TypeError,
        r"called as handler\(engine, exception\)",
    ),
    (
        "exception handler with too many parameters",
        lambda e: e.add_event_handler(Events.EXCEPTION_RAISED, lambda engine, exception, extra: None),
        TypeError,
        r"has parameters \(engine, exception, extra\) but will be called as handler\(engine, exception\)",
    ),
    (
        "event_to_attr not a dict",
        lambda e: e.register_events("a", event_to_attr=["a"]),
        TypeError,
        r"event_to_attr must be a dict mapping each event to a state attribute name, got list",
    ),
    ("unknown event type", lambda e: e.add_event_handler("epoch_done", noop), ValueError, "register_events"),
    ("not an event", lambda e: e.add_event_handler(3.5, noop), TypeError, "Expected an event"),
    (
        "unregistered custom event",
        lambda e: e.add_event_handler(CustomEvents.FOO, lambda e: None),
        ValueError,
        r"CustomEvents.FOO is not registered on this engine.*register_events\(\*CustomEvents\)",
    ),
    ("every=0", lambda e: Events.ITERATION_COMPLETED(every=0), ValueError, r"every must be >= 1, got every=0"),
    ("every=-2", lambda e: Events.ITERATION_COMPLETED(every=-2), ValueError, r"every must be >= 1, got every=-2"),
    ("every not int", lambda e: Events.ITERATION_COMPLETED(every=2.5), TypeError, "every must be an integer"),
    ("once=0", lambda e: Events.ITERATION_COMPLETED(once=0), ValueError, r"once must be >= 1, got once=0"),
    ("once list with 0", lambda e: Events.ITERATION_COMPLETED(once=[3, 0]), ValueError, r"once must be >= 1"),
    ("once empty", lambda e: Events.ITERATION_COMPLETED(once=[]), ValueError, "at least one count"),
    (
        "once float",
        lambda e: Events.ITERATION_COMPLETED(once=3.0),
        TypeError,
        r"once must be an integer or a collection of integers, got once=3.0 \(float\)",
    ),
    (
        "two kinds",
        lambda e: Events.ITERATION_COMPLETED(every=2, once=3),
        ValueError,
        "one kind of filter at a time, got once and every/before/after",
    ),
    (
        "event_filter and every",
        lambda e: Events.ITERATION_COMPLETED(event_filter=lambda e, n: True, every=2),
        ValueError,
        "got event_filter and every/before/after",
    ),
    ("no filter", lambda e: Events.ITERATION_COMPLETED(), ValueError, "needs one of event_filter"),
    (
        "event_filter not callable",
        lambda e: Events.ITERATION_COMPLETED(event_filter=5),
        TypeError,
        "event_filter must be a callable",
    ),
    (
        "event_filter signature",
        lambda e: Events.ITERATION_COMPLETED(event_filter=lambda count: True),
        TypeError,
        r"called as event_filter\(engine, count\)",
    ),
    ("empty window", lambda e: Events.ITERATION_COMPLETED(before=3, after=2), ValueError, "leave no count"),
    (
        "filter on an event without counter",
        lambda e: e.add_event_handler(Events.EXCEPTION_RAISED(every=2), lambda e, x: None),
        ValueError,
        "Events.EXCEPTION_RAISED has no counter",
    ),
    (
        "remove unregistered handler",
        lambda e: e.remove_event_handler(noop, Events.STARTED),
        ValueError,
        "Handler noop is not attached to Events.STARTED",
    ),
    ("fire unregistered", lambda e: e.fire_event("nope"), ValueError, "not an event registered"),
    (
        "register a built-in",
        lambda e: e.register_events(Events.STARTED),
        TypeError,
        "Built-in Events are always registered",
    ),
    (
        "register a number",
        lambda e: e.register_events(3),
        TypeError,
        "members of an EventEnum \\(or Enum\\) subclass or strings",
    ),
    ("terminate_epoch outside a run", lambda e: e.terminate_epoch(), RuntimeError, "called from outside a run"),
]


@pytest.mark.parametrize(("case", "wire", "error", "message"), WIRING_ERRORS, ids=[c[0] for c in WIRING_ERRORS])
def test_wiring_errors(case: str, wire: Callable[[Engine], object], error: type[Exception], message: str) -> None:
    engine = Engine(noop)
    with pytest.raises(error, match=message):
        wire(engine)


RUN_ERRORS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("max_epochs=0", {"data": [1], "max_epochs": 0}, ValueError, r"max_epochs must be a positive integer, got max_epochs=0. Pass max_epochs >= 1, or pass max_iters instead."),
    ("max_epochs float", {"data": [1], "max_epochs": 1.5}, TypeError, r"max_epochs must be a positive integer, got max_epochs=1.5 \(float\)"),
    ("max_iters=-1", {"data": [1], "max_iters": -1}, ValueError, r"max_iters must be a positive integer, got max_iters=-1"),
    ("epoch_length=0", {"data": [1], "epoch_length": 0}, ValueError, r"epoch_length must be a positive integer, got epoch_length=0"),
    ("epoch_length bool", {"data": [1], "epoch_length": True}, TypeError, "epoch_length must be a positive integer"),
    ("both limits", {"data": [1], "max_epochs": 2, "max_iters": 3}, ValueError, "max_epochs and max_iters are exclusive"),
    ("data not iterable", {"data": 42}, TypeError, "data must be an iterable of batches .* got int"),
    ("empty list", {"data": []}, ValueError, r"data is empty \(list of length 0\)"),
    ("no data, no length", {}, ValueError, "run\\(\\) without data needs epoch_length"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "kwargs", "error", "message"), RUN_ERRORS, ids=[c[0] for c in RUN_ERRORS])
def test_run_argument_errors(case: str, kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Engine(noop).run(**kwargs)


@pytest.mark.parametrize(
    ("process_function", "error", "message"),
    [
        (None if False else 7, TypeError, r"process_function must be a callable \(engine, batch\) -> output, got 7"),
        (
            lambda batch: batch,
            TypeError,
            r"has parameters \(batch\) but is called as process_function\(engine, batch\)",
        ),
        (lambda a, b, c: a, TypeError, "Give it two parameters"),
    ],
)
def test_bad_process_function(process_function: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Engine(process_function)


def valid_state_dict(**changes: Any) -> dict[str, Any]:
    state = {"iteration": 6, "epoch": 2, "epoch_length": 3, "max_epochs": 4, "max_iters": None}
    state.update(changes)
    return state


@pytest.mark.parametrize(
    ("state_dict", "error", "message"),
    [
        ({"iteration": 3}, ValueError, r"misses \['epoch_length', 'max_epochs or max_iters'\]"),
        ({"epoch_length": 3, "max_epochs": 2}, ValueError, r"misses \['iteration or epoch'\]"),
        ({"epoch_length": None, "iteration": 3, "max_epochs": 2}, ValueError, "one counter and no epoch_length"),
        (valid_state_dict(iteration=-1), ValueError, r"state_dict\['iteration'\] must be >= 0, got -1"),
        (valid_state_dict(iteration="6"), TypeError, r"state_dict\['iteration'\] must be an integer"),
        (valid_state_dict(epoch_length=0), ValueError, "epoch_length.* must be a positive integer.*The state dict is invalid"),
        (valid_state_dict(max_iters=10), ValueError, "sets both max_epochs=4 and max_iters=10"),
        (valid_state_dict(iteration=10), ValueError, "iteration=10 cannot be reached in epoch=2 with epoch_length=3"),
        (valid_state_dict(epoch_completed="yes"), TypeError, "epoch_completed'\\] must be a bool"),
        (valid_state_dict(terminated=1), TypeError, "terminated'\\] must be a bool"),
        ([1, 2], TypeError, "load_state_dict expects a mapping, got list"),
    ],
)  # fmt: skip
def test_load_state_dict_errors(state_dict: Any, error: type[Exception], message: str) -> None:
    engine = Engine(noop)
    with pytest.raises(error, match=message):
        engine.load_state_dict(state_dict)
    assert engine.state.iteration == 0, "a rejected state dict must leave the engine as it was"


def test_user_keys_are_required_by_load_state_dict() -> None:
    engine = Engine(noop)
    engine.state_dict_user_keys.append("alpha")
    with pytest.raises(ValueError, match=r"misses \['alpha'\]"):
        engine.load_state_dict(valid_state_dict())


def test_state_dict_of_a_missing_user_key() -> None:
    engine = Engine(noop)
    engine.state_dict_user_keys.append("alpha")
    with pytest.raises(AttributeError, match=r"engine\.state has no attribute 'alpha'"):
        engine.state_dict()


def test_resume_with_max_epochs_below_the_epoch_reached() -> None:
    engine = Engine(noop)
    engine.load_state_dict(valid_state_dict(iteration=7, epoch=3, epoch_completed=False))
    with pytest.raises(
        ValueError,
        match=r"max_epochs=2 is smaller than the epoch this engine already reached \(3\).*engine\.state\.max_epochs = None",
    ):
        engine.run(range(3), max_epochs=2)


def test_resume_cannot_switch_to_max_iters() -> None:
    engine = Engine(noop)
    engine.load_state_dict(valid_state_dict())
    with pytest.raises(
        ValueError,
        match=r"limited by max_epochs=4, so run\(\) cannot switch to max_iters=20.*engine.state.max_epochs = None",
    ):
        engine.run(range(3), max_iters=20)


def test_run_while_running() -> None:
    engine = Engine(noop)
    engine.add_event_handler(Events.STARTED, lambda e: e.run([1]))
    with pytest.raises(RuntimeError, match="already running"):
        engine.run([1])


def test_load_state_dict_while_running_past_started() -> None:
    engine = Engine(noop)
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: e.load_state_dict(valid_state_dict()))
    with pytest.raises(
        RuntimeError,
        match=r"while the engine runs \(at Events.ITERATION_COMPLETED\).*before run\(\).*STARTED handler.*"
        r"call engine.terminate\(\) here instead, then call load_state_dict\(\) and run\(\) again",
    ):
        engine.run([1])


def test_the_advice_of_the_load_state_dict_while_running_error_works() -> None:
    """Going back to a checkpoint mid-run as the message says: terminate(), then load and run() again."""
    seen: list[tuple[int, int, int]] = []
    engine = Engine(lambda e, b: seen.append((e.state.epoch, e.state.iteration, b)))
    saved: list[dict[str, Any]] = []
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: saved.append(e.state_dict()))
    going_back = engine.add_event_handler(Events.ITERATION_COMPLETED(once=5), lambda e: e.terminate())
    engine.run(range(3), max_epochs=2)
    assert seen[-1][:2] == (2, 5)
    going_back.remove()
    seen.clear()
    engine.load_state_dict(saved[0])
    engine.run(range(3))
    assert seen == [(1, 3, 2), (2, 4, 0), (2, 5, 1), (2, 6, 2)]


def test_load_state_dict_from_a_started_handler_continues_from_the_loaded_position() -> None:
    """As frameworks built on pytorch-ignite resume: the run goes on from the loaded counters."""
    seen: list[tuple[int, int]] = []
    engine = Engine(lambda e, b: seen.append((e.state.epoch, e.state.iteration)))
    engine.add_event_handler(
        Events.STARTED, lambda e: e.load_state_dict({"epoch_length": 2, "iteration": 2, "max_epochs": 2})
    )
    engine.run([1, 2], max_epochs=2)
    assert seen == [(2, 3), (2, 4)]


def test_an_empty_iterator_warns_and_runs_nothing() -> None:
    """As pytorch-ignite 0.5.5, data without a length that yields nothing gives epoch_length 0; ember warns."""
    with pytest.warns(UserWarning, match="ran out before this epoch's first batch"):
        state = Engine(noop).run(iter([]))
    assert (state.iteration, state.epoch_length) == (0, 0)


def test_event_to_attr_entries_of_other_events_are_left_for_their_own_call() -> None:
    """Frameworks register one event at a time with one shared mapping, as pytorch-ignite allows."""
    engine = Engine(noop)
    mapping = {"a": "a_count", "b": "b_count"}
    engine.register_events("a", event_to_attr=mapping)
    assert engine.state.event_to_attr["a"] == "a_count" and "b" not in engine.state.event_to_attr
    engine.register_events("b", event_to_attr=mapping)
    assert engine.state.b_count == 0


def test_terminate_epoch_in_epoch_completed_does_nothing_more() -> None:
    """The epoch has ended there already: as in pytorch-ignite, the request is dropped."""
    engine = Engine(noop)
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: e.terminate_epoch())
    state = engine.run([1, 2], max_epochs=2)
    assert (state.epoch, state.iteration) == (2, 4)


def test_resume_cannot_switch_to_max_epochs() -> None:
    engine = Engine(noop)
    engine.run(range(3), max_iters=5)
    with pytest.raises(
        ValueError, match=r"limited by max_iters=5, so run\(\) cannot switch to max_epochs=3.*max_iters = None"
    ):
        engine.run(range(3), max_epochs=3)


def test_finished_run_with_smaller_max_epochs() -> None:
    engine = Engine(noop)
    engine.run(range(3), max_epochs=3)
    with pytest.raises(ValueError, match="max_epochs=2 is smaller than the epoch this engine already reached"):
        engine.run(range(3), max_epochs=2)


def test_resume_with_a_different_epoch_length() -> None:
    engine = Engine(noop)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.interrupt())
    engine.run(range(3), max_epochs=2)
    with pytest.raises(ValueError, match="epoch_length=2 differs from the resumed run's epoch_length=3"):
        engine.run(range(3), epoch_length=2)
