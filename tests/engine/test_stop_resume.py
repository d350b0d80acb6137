"""Stop anywhere, save, resume: the same events and the same data as a run that was never stopped.

A run is stopped at a random event (``terminate()``, ``terminate_epoch()``, ``interrupt()`` or their
quiet forms); wherever ``run()`` returns, the engine's ``state_dict()`` is loaded into a fresh
engine that runs on. Every event the engines fire is recorded into one trace: the trace of the
saved-and-resumed engines must equal the trace of one engine that was simply run again after each
return (for ``interrupt()`` alone: of a run that was never stopped at all), and so must the batches
the process function saw.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from ember.engine import Engine, Events

LONG = settings.get_current_profile_name() == "long"
SCENARIOS = settings(max_examples=20_000 if LONG else 600, derandomize=not LONG, deadline=None)

EVENTS = [event for event in Events if event is not Events.EXCEPTION_RAISED]
ACTIONS = ("terminate", "terminate_skip", "terminate_epoch", "terminate_epoch_skip", "interrupt")
# terminate_epoch() is an error where no epoch's iterations run (STARTED, EPOCH_STARTED, after the run)
IN_EPOCH = {"GET_BATCH_STARTED", "GET_BATCH_COMPLETED", "ITERATION_STARTED", "ITERATION_COMPLETED"}
IN_EPOCH |= {"DATALOADER_STOP_ITERATION", "EPOCH_COMPLETED"}
WITH_BATCH = {"GET_BATCH_COMPLETED", "ITERATION_STARTED", "ITERATION_COMPLETED"}
RETURNS = {"INTERRUPT", "TERMINATE"}  # the events after which run() returns to its caller
# A stop asked for once the run has stopped (in a handler of these) is not one of the stops tested here.
AFTER_THE_RUN = {"INTERRUPT", "TERMINATE", "COMPLETED"}
Key = tuple[str, int, int, int]  # event, epoch, iteration, how many times this triple was seen before


@dataclass
class Recorder:
    """Records what every engine of one scenario fires and sees, and acts out the stops at their keys."""

    stops: dict[Key, str]
    trace: list[tuple[str, int, int, Any]] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    batches: list[Any] = field(default_factory=list)
    seen: Counter[tuple[str, int, int]] = field(default_factory=Counter)
    requested = False  # an action asked run() to return and it has not yet
    returned_by_action = False
    drop_started = False  # a resume from a state dict fires STARTED, a resume by run() after interrupt() does not
    loaded_complete = False  # a state dict of a run at its end was loaded: run() ran nothing (and warned)
    loaded_used_up_pass = False  # a state dict saved when the pass over the data had just been used up was loaded

    def record(self, engine: Engine, name: str) -> None:
        state = engine.state
        if name == "STARTED" and self.drop_started:
            self.drop_started = False
            return
        triple = (name, state.epoch, state.iteration)
        key = (*triple, self.seen[triple])
        self.seen[triple] += 1
        # the batch is the run's only while it runs its iterations (a fresh engine has none before)
        self.trace.append((*triple, _value(state.batch) if name in WITH_BATCH else None))
        self.keys.append(key)
        if name in RETURNS and self.requested:
            self.requested, self.returned_by_action = False, True
        action = self.stops.get(key)
        if action is not None:
            _act(engine, action)
            self.requested = self.requested or action in ("terminate", "terminate_skip", "interrupt")


def _value(batch: Any) -> Any:
    return batch.tolist() if hasattr(batch, "tolist") else batch


def _act(engine: Engine, action: str) -> None:
    if action == "terminate":
        engine.terminate()
    elif action == "terminate_skip":
        engine.terminate(skip_completed=True)
    elif action == "terminate_epoch":
        engine.terminate_epoch()
    elif action == "terminate_epoch_skip":
        engine.terminate_epoch(skip_epoch_completed=True)
    else:
        engine.interrupt()


def _engine(recorder: Recorder) -> Engine:
    engine = Engine(lambda engine, batch: recorder.batches.append(_value(batch)))
    for event in EVENTS:
        engine.add_event_handler(event, _recording(recorder, event.name))
    return engine


def _recording(recorder: Recorder, name: str) -> Callable[[Engine], None]:
    return lambda engine: recorder.record(engine, name)


@dataclass(frozen=True)
class Scenario:
    kind: str  # the data: "list", "range", "loader" (a DataLoader of single numbers) or "none" (no data)
    length: int
    limit: str
    value: int
    epoch_length: int | None

    def data(self) -> Iterable[Any] | None:
        if self.kind == "none":
            return None
        values = list(range(10, 10 + self.length))
        if self.kind == "range":
            return range(10, 10 + self.length)
        if self.kind == "loader":
            return DataLoader(values, batch_size=1)
        return values

    def first_run(self, engine: Engine) -> None:
        kwargs: dict[str, Any] = {self.limit: self.value}
        if self.epoch_length is not None or self.kind == "none":
            kwargs["epoch_length"] = self.epoch_length or self.length
        engine.run(self.data(), **kwargs)


def drive(scenario: Scenario, stops: dict[Key, str], resume: str) -> Recorder:
    """Run to the end; after each return that a stop caused, run on: ``resume`` is "run" or "state_dict"."""
    recorder = Recorder(stops)
    engine = _engine(recorder)
    scenario.first_run(engine)
    for _ in range(len(stops)):
        if not recorder.returned_by_action:
            break
        recorder.returned_by_action = False
        if resume == "state_dict":
            saved = engine.state_dict()
            recorder.loaded_used_up_pass |= saved["data_position"] == scenario.length
            interrupted = recorder.trace[-1][0] == "INTERRUPT"
            engine = _engine(recorder)
            engine.load_state_dict(saved)
            recorder.drop_started = interrupted
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine.run(scenario.data())
        recorder.loaded_complete |= any("already complete" in str(w.message) for w in caught)
    return recorder


scenarios = st.builds(
    Scenario,
    kind=st.sampled_from(["list", "range", "loader", "none"]),
    length=st.integers(1, 4),
    limit=st.sampled_from(["max_epochs", "max_iters"]),
    value=st.integers(1, 7),
    epoch_length=st.one_of(st.none(), st.integers(1, 5)),
)


def _without_stop_iteration(trace: list[tuple[str, int, int, Any]]) -> list[tuple[str, int, int, Any]]:
    return [row for row in trace if row[0] != "DATALOADER_STOP_ITERATION"]


def _as_never_interrupted(trace: list[tuple[str, int, int, Any]]) -> list[tuple[str, int, int, Any]]:
    """The trace without INTERRUPT; and, as in pytorch-ignite, a run interrupted in DATALOADER_STOP_ITERATION
    fires GET_BATCH_STARTED again when it resumes: without that one too."""
    kept: list[tuple[str, int, int, Any]] = []
    for index, row in enumerate(trace):
        after = [previous[0] for previous in trace[max(0, index - 2) : index]]
        if row[0] == "INTERRUPT" or (
            row[0] == "GET_BATCH_STARTED" and after == ["DATALOADER_STOP_ITERATION", "INTERRUPT"]
        ):
            continue
        kept.append(row)
    return kept


def _draw_stop(data: st.DataObject, keys: list[Key], after: int) -> tuple[Key, str] | None:
    candidates = [key for key in keys[after:] if key[0] not in AFTER_THE_RUN]
    if not candidates:
        return None
    key = data.draw(st.sampled_from(candidates), label="stop at")
    actions = ACTIONS if key[0] in IN_EPOCH else ("terminate", "terminate_skip", "interrupt")
    return key, data.draw(st.sampled_from(actions), label="action")


@SCENARIOS
@given(scenario=scenarios, data=st.data())
def test_a_run_stopped_anywhere_resumes_from_its_state_dict_as_if_run_on(
    scenario: Scenario, data: st.DataObject
) -> None:
    """One or two stops at random events; each return saves state_dict() and a fresh engine loads it and runs on."""
    plain = drive(scenario, {}, "run")
    stops: dict[Key, str] = {}
    first = _draw_stop(data, plain.keys, 0)
    assert first is not None
    stops[first[0]] = first[1]
    once = drive(scenario, dict(stops), "run")
    second = _draw_stop(data, once.keys, once.keys.index(first[0]) + 1) if data.draw(st.booleans()) else None
    if second is not None:
        stops[second[0]] = second[1]
    reference = drive(scenario, dict(stops), "run")
    resumed = drive(scenario, dict(stops), "state_dict")
    if resumed.loaded_complete:
        # interrupted after the run's last epoch: its state dict is that of a complete run, which loads to run
        # nothing more (documented in load_state_dict); run() on the same engine fires just COMPLETED
        assert [row[0] for row in reference.trace[-2:]] == ["INTERRUPT", "COMPLETED"]
        assert resumed.trace[-1][0] == "INTERRUPT"
        assume(False)
    if resumed.loaded_used_up_pass:
        # known difference (docs/resume.md): a resume opens the next pass at once, where the engine that ran on
        # finds the pass used up at its next fetch and fires DATALOADER_STOP_ITERATION; the batches are the same
        assume(not any(key[0] == "DATALOADER_STOP_ITERATION" for key in stops))
        assert _without_stop_iteration(resumed.trace) == _without_stop_iteration(reference.trace)
    else:
        assert resumed.trace == reference.trace
    assert resumed.batches == reference.batches
    if set(stops.values()) == {"interrupt"}:
        # interrupt() and run() again: the run is the one that never stopped, but for the INTERRUPT events
        assert _as_never_interrupted(reference.trace) == plain.trace
        assert reference.batches == plain.batches


def _stopped_and_resumed(stop_event: Events, action: str) -> tuple[list[Any], list[Any]]:
    """Batches and rows of a 4-batch epoch stopped once at ``stop_event`` of its third iteration, resumed from its dict."""
    seen: list[Any] = []
    rows: list[str] = []
    engine = Engine(lambda engine, batch: seen.append(batch))
    engine.add_event_handler(
        stop_event(once=2 if stop_event.name.startswith("GET_BATCH") else 3), lambda e: _act(e, action)
    )
    engine.add_event_handler(Events.ITERATION_STARTED, lambda e: rows.append(f"started {e.state.iteration}"))
    engine.run([10, 11, 12, 13])
    resumed = Engine(lambda engine, batch: seen.append(batch))
    resumed.add_event_handler(Events.ITERATION_STARTED, lambda e: rows.append(f"started {e.state.iteration}"))
    resumed.load_state_dict(engine.state_dict())
    resumed.run([10, 11, 12, 13])
    return seen, rows


def test_a_state_saved_after_get_batch_completed_resumes_with_that_batch() -> None:
    """The fetched batch is fetched again (not the one before it) and ITERATION_STARTED fires once for it."""
    seen, rows = _stopped_and_resumed(Events.GET_BATCH_COMPLETED, "interrupt")
    assert seen == [10, 11, 12, 13]
    assert rows == ["started 1", "started 2", "started 3", "started 4"]


def test_a_state_saved_after_iteration_started_resumes_by_processing_that_batch() -> None:
    """The counted iteration's batch is fetched again and processed; ITERATION_STARTED does not fire twice."""
    seen, rows = _stopped_and_resumed(Events.ITERATION_STARTED, "interrupt")
    assert seen == [10, 11, 12, 13]
    assert rows == ["started 1", "started 2", "started 3", "started 4"]


def test_deterministic_engine_resumed_after_a_fetch_draws_the_random_numbers_of_the_run_that_went_on() -> None:
    """The saved random state is restored after the batch is fetched again, as it was saved: after the fetch.

    The data draws a random number per item (a random augmentation would): restored before the fetch,
    the process function would draw other numbers than the run that went on.
    """
    import torch
    from torch.utils.data import Dataset

    from ember.engine import DeterministicEngine

    class Augmented(Dataset[float]):
        def __len__(self) -> int:
            return 6

        def __getitem__(self, index: int) -> float:
            torch.rand(1)  # the augmentation's draw
            return float(index)

    def run(stop_event: Events | None) -> list[tuple[float, float]]:
        drawn: list[tuple[float, float]] = []

        def step(engine: Engine, batch: Any) -> None:
            drawn.append((float(batch[0]), round(float(torch.rand(1)), 6)))

        loader = DataLoader(Augmented(), batch_size=1, shuffle=True)
        torch.manual_seed(0)
        engine = DeterministicEngine(step)
        if stop_event is not None:
            engine.add_event_handler(stop_event(once=3), lambda e: e.interrupt())
        engine.run(loader, max_epochs=2)
        if stop_event is not None:
            resumed = DeterministicEngine(step)
            resumed.load_state_dict(engine.state_dict())
            torch.manual_seed(123)  # another process: its own random state, replaced by the saved one
            resumed.run(DataLoader(Augmented(), batch_size=1, shuffle=True))
        return drawn

    uninterrupted = run(None)
    assert run(Events.GET_BATCH_COMPLETED) == uninterrupted
    assert run(Events.ITERATION_STARTED) == uninterrupted


def test_a_state_saved_before_a_loaded_position_is_used_keeps_that_position() -> None:
    """Load a state, stop before the first fetch (EPOCH_STARTED), save again: the next batch is still the loaded one.

    Found by the long run of the property test above: the second state said 'start of the pass', so a
    run of 3 items in epochs of 2 resumed epoch 2 at item 0 instead of item 2.
    """
    data = [10, 11, 12]
    seen: list[int] = []

    def engine() -> Engine:
        made = Engine(lambda engine, batch: batch)
        made.add_event_handler(Events.GET_BATCH_COMPLETED, lambda engine: seen.append(engine.state.batch))
        return made

    first = engine()
    first.add_event_handler(Events.EPOCH_COMPLETED(once=1), lambda engine: engine.interrupt())
    first.run(data, max_epochs=2, epoch_length=2)
    second = engine()
    second.load_state_dict(first.state_dict())
    second.add_event_handler(Events.EPOCH_STARTED(once=2), lambda engine: engine.interrupt())
    second.run(data)
    third = engine()
    third.load_state_dict(second.state_dict())
    third.run(data)
    assert seen == [10, 11, 12, 10]
