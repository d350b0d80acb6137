"""The engine's state machine against pytorch-ignite 0.5.5's: the same random call sequences, the same results.

Each example builds one ignite ``Engine`` and one ember ``Engine`` with the same handlers (a recorder on
every event and on a custom event with a counter that the process function fires, and random "actions" --
``terminate()``, ``terminate_epoch()``, ``interrupt()``, their quiet forms and ``set_data()`` -- on
filtered events), then applies the same random sequence of calls to both: ``run()``
with data of several kinds and lengths, ``state.max_epochs = None``, ``set_data()``, ``state_dict()`` /
``load_state_dict()`` round trips (pytorch-ignite's keys) into a fresh engine of the same library or of
the other one. After every call it compares the
event trace (event, epoch, iteration, batch), the state's counters, limits, ``output``, ``batch`` and
``metrics``, and the type of any exception raised.

The places where ember differs on purpose are excluded from the random programs and pinned by their own
tests in test_engine_differences.py (each listed in docs/migration.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ignite.engine as ignite_engine
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

import ember.engine as ember_engine

LONG = settings.get_current_profile_name() == "long"
SEQUENCES = settings(max_examples=20_000 if LONG else 500, derandomize=not LONG, deadline=None)

ACTIONS = ("terminate", "terminate_skip", "terminate_epoch", "terminate_epoch_skip", "interrupt", "set_data")
ACTION_EVENTS = (
    "STARTED",
    "EPOCH_STARTED",
    "GET_BATCH_STARTED",
    "GET_BATCH_COMPLETED",
    "ITERATION_STARTED",
    "ITERATION_COMPLETED",
    "EPOCH_COMPLETED",
    "DATALOADER_STOP_ITERATION",
)
COUNTED = {"STARTED", "EPOCH_STARTED", "GET_BATCH_STARTED", "GET_BATCH_COMPLETED", "ITERATION_STARTED"}
COUNTED |= {"ITERATION_COMPLETED", "EPOCH_COMPLETED", "COMPLETED"}
TRACED = (*ACTION_EVENTS, "COMPLETED", "TERMINATE", "TERMINATE_SINGLE_EPOCH", "INTERRUPT")

MAX_TRACE = 3_000
# ignite's crash -> ember's clear error for the same misuse (a state dict with epoch_length 0, which an epoch
# that found its data dry leaves behind: ignite divides by it)
CLEARER = {"ZeroDivisionError": "ValueError"}


class Runaway(Exception):
    """Raised by the recorder when a run fires far more events than any program here should."""


@dataclass(frozen=True)
class Action:
    """A handler that stops the run: ``action`` on ``event`` under a filter (``kind``, ``value``)."""

    event: str
    kind: str  # "none", "every", "once", "before", "after", "every_after", "function"
    value: int
    action: str


@dataclass(frozen=True)
class Data:
    """The data of one ``run()`` or ``set_data()``: a ``kind`` of iterable over ``length`` numbered batches."""

    kind: str  # "list", "range", "generator", "loader", "none"
    length: int
    offset: int  # batch values start here, so batches of different data differ


@dataclass
class Side:
    """One library's engine and what it recorded."""

    lib: Any
    engine: Any
    trace: list[tuple[Any, ...]] = field(default_factory=list)


def _batch_value(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return int(batch.reshape(-1)[0])
    return batch


def _make_data(data: Data) -> Any:
    values = list(range(data.offset, data.offset + data.length))
    if data.kind == "list":
        return values
    if data.kind == "range":
        return range(data.offset, data.offset + data.length)
    if data.kind == "generator":
        return (v for v in values)
    if data.kind == "loader":
        return DataLoader(values, batch_size=1)
    return None


def _filtered(lib: Any, action: Action) -> Any:
    event = getattr(lib.Events, action.event)
    if action.kind == "none":
        return event
    if action.kind == "every":
        return event(every=action.value)
    if action.kind == "once":
        return event(once=action.value)
    if action.kind == "before":
        return event(before=action.value)
    if action.kind == "after":
        return event(after=action.value)
    if action.kind == "every_after":
        return event(every=2, after=action.value)
    return event(event_filter=lambda engine, count: count % (action.value + 1) == 1)


def _custom_events(lib: Any) -> Any:
    """A custom event with a counter, fired by the process function (one class per library)."""
    if lib not in _CUSTOM:

        class StepEvents(lib.EventEnum):
            BACKWARD_DONE = "backward_done"

        _CUSTOM[lib] = StepEvents
    return _CUSTOM[lib]


_CUSTOM: dict[Any, Any] = {}


def _build(lib: Any, actions: tuple[Action, ...], trace: list[tuple[Any, ...]]) -> Any:
    custom = _custom_events(lib)

    def process(engine: Any, batch: Any) -> Any:
        engine.state.backward_steps += 1
        engine.fire_event(custom.BACKWARD_DONE)
        return ("out", engine.state.iteration, _batch_value(batch))

    engine = lib.Engine(process)
    engine.register_events(*custom, event_to_attr={custom.BACKWARD_DONE: "backward_steps"})
    engine.add_event_handler(
        custom.BACKWARD_DONE(every=2),
        lambda e: trace.append(("BACKWARD_DONE", e.state.epoch, e.state.iteration, e.state.backward_steps)),
    )

    def recorder(name: str) -> Callable[[Any], None]:
        def record(engine: Any, *args: Any, **kwargs: Any) -> None:
            state = engine.state
            trace.append((name, state.epoch, state.iteration, _batch_value(state.batch)))
            if len(trace) > MAX_TRACE:
                raise Runaway(f"more than {MAX_TRACE} events: the run does not end")

        return record

    for name in TRACED:
        engine.add_event_handler(getattr(lib.Events, name), recorder(name))
    for action in actions:
        engine.add_event_handler(_filtered(lib, action), _act(action.action))
    return engine


def _act(action: str) -> Callable[[Any], None]:
    def act(engine: Any) -> None:
        if action == "terminate":
            engine.terminate()
        elif action == "terminate_skip":
            engine.terminate(skip_completed=True)
        elif action == "terminate_epoch":
            engine.terminate_epoch()
        elif action == "terminate_epoch_skip":
            engine.terminate_epoch(skip_epoch_completed=True)
        elif action == "set_data":
            engine.set_data([500, 501, 502])
        else:
            engine.interrupt()

    return act


def _observe(side: Side) -> dict[str, Any]:
    state = side.engine.state
    return {
        "iteration": state.iteration,
        "epoch": state.epoch,
        "epoch_length": state.epoch_length,
        "max_epochs": state.max_epochs,
        "max_iters": state.max_iters,
        "output": state.output,
        "batch": _batch_value(state.batch),
        "metrics": dict(state.metrics),
    }


def _ignite_keys(saved: dict[str, Any]) -> dict[str, Any]:
    """The keys of pytorch-ignite's state dict (ember's own dict resumes exactly, on purpose: see the pinned tests)."""
    limit = "max_iters" if saved.get("max_iters") is not None else "max_epochs"
    return {"epoch_length": saved["epoch_length"], "iteration": saved["iteration"], limit: saved[limit]}


def _call(side: Side, step: tuple[Any, ...], actions: tuple[Action, ...]) -> str | None:
    """Apply one step of the program; return the type name of what it raised (None if nothing)."""
    kind = step[0]
    engine = side.engine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "run":
                _, data, limit, value, epoch_length = step
                kwargs: dict[str, Any] = {limit: value} if limit else {}
                if epoch_length is not None:
                    kwargs["epoch_length"] = epoch_length
                engine.run(_make_data(data), **kwargs)
            elif kind == "reset":
                engine.state.max_epochs = None
                engine.state.max_iters = None
            elif kind == "set_data":
                engine.set_data(_make_data(step[1]))
            elif kind in ("roundtrip_fresh", "roundtrip_cross"):
                saved = step[1] if kind == "roundtrip_cross" else _ignite_keys(engine.state_dict())
                fresh = _build(side.lib, actions, side.trace)
                fresh.load_state_dict(saved)
                side.engine = fresh
    except Exception as error:
        return type(error).__name__
    return None


datas = st.builds(
    Data,
    kind=st.sampled_from(["list", "range", "generator", "loader", "none"]),
    length=st.integers(1, 5),
    offset=st.sampled_from([0, 100, 200]),
)
runs = st.tuples(
    st.just("run"),
    datas,
    st.sampled_from([None, "max_epochs", "max_iters"]),
    st.integers(1, 6),
    st.one_of(st.none(), st.integers(1, 6)),
)
steps = st.one_of(
    runs,
    runs,
    runs,
    st.just(("reset",)),
    st.tuples(st.just("set_data"), datas.filter(lambda d: d.kind != "none")),
    st.just(("roundtrip_fresh",)),
    st.just(("roundtrip_cross",)),
)
actions = st.builds(
    lambda event, kind, value, action: Action(
        event, "none" if event == "DATALOADER_STOP_ITERATION" else kind, value, action
    ),
    event=st.sampled_from(ACTION_EVENTS),
    kind=st.sampled_from(["none", "every", "once", "before", "after", "every_after", "function"]),
    value=st.integers(1, 6),
    action=st.sampled_from(ACTIONS),
)


def _valid(step: tuple[Any, ...]) -> bool:
    if step[0] != "run":
        return True
    data = step[1]
    return not (data.kind == "none" and step[4] is None)


@SEQUENCES
@given(
    program=st.lists(steps.filter(_valid), min_size=1, max_size=6),
    stops=st.lists(actions, max_size=2).map(tuple),
)
def test_random_call_sequences_match_ignite(program: list[tuple[Any, ...]], stops: tuple[Action, ...]) -> None:
    sides = []
    for lib in (ignite_engine, ember_engine):
        trace: list[tuple[Any, ...]] = []
        sides.append(Side(lib, _build(lib, stops, trace), trace))
    ignite_side, ember_side = sides
    for number, step in enumerate(program):
        if step[0] == "roundtrip_cross":  # each library loads the dict the other one saved
            dicts = [_ignite_keys(dict(side.engine.state_dict())) for side in sides]
            raised = [_call(sides[0], (step[0], dicts[1]), stops), _call(sides[1], (step[0], dicts[0]), stops)]
        else:
            raised = [_call(side, step, stops) for side in sides]
        where = f"step {number} {step!r} of {program!r} with handlers {stops!r}"
        assert CLEARER.get(raised[0], raised[0]) == raised[1], f"{where}: ignite raised {raised[0]}, ember {raised[1]}"
        assert ember_side.trace == ignite_side.trace, f"{where}: event traces differ"
        assert _observe(ember_side) == _observe(ignite_side), f"{where}: states differ"
        if raised[0] is not None and step[0] == "run":
            break  # after a run that raised, ignite's next run() returns None and runs nothing (ember resumes)
