"""The engine's deliberate differences from pytorch-ignite 0.5.5, each run on both and pinned.

Every test here shows what ignite does and what ember does instead, and that ember says so (an error
or a warning) or documents it in docs/migration.md ("The engine: deliberate differences"). The random
call sequences of test_engine_machine.py leave these cases out.
"""

from __future__ import annotations

import warnings
from typing import Any

import ignite.engine as ignite_engine
import pytest

import ember.engine as ember_engine

LIBRARIES = pytest.mark.parametrize("lib", [ignite_engine, ember_engine], ids=["ignite", "ember"])


def _trace(lib: Any, engine: Any) -> list[tuple[str, int, int]]:
    rows: list[tuple[str, int, int]] = []
    for name in ("STARTED", "EPOCH_STARTED", "ITERATION_COMPLETED", "EPOCH_COMPLETED", "COMPLETED"):
        engine.add_event_handler(
            getattr(lib.Events, name), lambda e, n=name: rows.append((n, e.state.epoch, e.state.iteration))
        )
    return rows


def _interrupted_at_iteration(lib: Any, iteration: int) -> Any:
    engine = lib.Engine(lambda e, b: None)
    engine.add_event_handler(lib.Events.ITERATION_COMPLETED(once=iteration), lambda e: e.interrupt())
    engine.run([0, 1, 2, 3], max_epochs=2)
    return engine


def test_an_exception_propagates_and_the_next_run_goes_on() -> None:
    """ignite: a run() after a run that raised returns None and runs nothing. ember: it goes on from there."""
    results = {}
    for lib in (ignite_engine, ember_engine):
        calls = []

        def step(engine: Any, batch: int, calls: list[int] = calls) -> None:
            calls.append(batch)
            if len(calls) == 2:
                raise KeyError("once")

        engine = lib.Engine(step)
        with pytest.raises(KeyError):
            engine.run([0, 1, 2, 3])
        results[lib.__name__] = (engine.run([0, 1, 2, 3]), list(calls))
    ignite_state, ignite_calls = results["ignite.engine"]
    ember_state, ember_calls = results["ember.engine"]
    assert ignite_state is None and ignite_calls == [0, 1]
    assert ember_state.iteration == 4 and ember_calls == [0, 1, 2, 3]


def test_embers_own_state_dict_resumes_mid_epoch_exactly() -> None:
    """ember's dict: no second EPOCH_STARTED, the data goes on at the next batch. ignite's dict (also read by
    ember) counts the epoch as not begun and restarts its data (the random sequences check that path)."""
    for lib in (ignite_engine, ember_engine):
        saved = _interrupted_at_iteration(lib, 6).state_dict()
        seen: list[int] = []
        resumed = lib.Engine(lambda e, b, seen=seen: seen.append(b))
        rows = _trace(lib, resumed)
        resumed.load_state_dict(saved)
        resumed.run([0, 1, 2, 3], max_epochs=2)
        if lib is ignite_engine:
            assert rows[:2] == [("STARTED", 1, 6), ("EPOCH_STARTED", 2, 6)] and seen == [0, 1]
        else:
            assert rows[:2] == [("STARTED", 2, 6), ("ITERATION_COMPLETED", 2, 7)] and seen == [2, 3]


def test_a_loaded_complete_run_warns_and_runs_nothing() -> None:
    """ember's dict of a finished run: run() warns and returns (a preempted job restarted late does not retrain).
    ignite starts a new run."""
    for lib in (ignite_engine, ember_engine):
        done = lib.Engine(lambda e, b: None)
        done.run([0, 1], max_epochs=2)
        engine = lib.Engine(lambda e, b: None)
        engine.load_state_dict(done.state_dict())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state = engine.run([0, 1])
        if lib is ignite_engine:
            assert (state.epoch, state.iteration) == (1, 2)
        else:
            assert (state.epoch, state.iteration) == (2, 4)
            assert any("already complete" in str(w.message) for w in caught)


@LIBRARIES
def test_a_filter_on_an_event_without_a_counter(lib: Any) -> None:
    """ignite accepts it and fails when the event fires; ember refuses it when it is attached."""
    engine = lib.Engine(lambda e, b: e.terminate())
    if lib is ember_engine:
        with pytest.raises(ValueError, match="has no counter, so it cannot take a filter"):
            engine.add_event_handler(lib.Events.TERMINATE(every=2), lambda e: None)
        return
    engine.add_event_handler(lib.Events.TERMINATE(every=2), lambda e: None)
    with pytest.raises(RuntimeError, match="Unknown event name"):
        engine.run([0])


@LIBRARIES
def test_a_window_that_holds_no_count(lib: Any) -> None:
    """ignite accepts before <= after + 1 and never fires; ember refuses it."""
    if lib is ember_engine:
        with pytest.raises(ValueError, match="leave no count to fire on"):
            lib.Events.ITERATION_COMPLETED(before=3, after=2)
        return
    fired: list[int] = []
    engine = lib.Engine(lambda e, b: None)
    engine.add_event_handler(lib.Events.ITERATION_COMPLETED(before=3, after=2), lambda e: fired.append(1))
    engine.run(range(5))
    assert fired == []


@LIBRARIES
def test_terminate_epoch_outside_a_run(lib: Any) -> None:
    """ignite sets a flag the next run clears; ember says it does nothing there."""
    engine = lib.Engine(lambda e, b: None)
    if lib is ember_engine:
        with pytest.raises(RuntimeError, match="called from outside a run"):
            engine.terminate_epoch()
        return
    engine.terminate_epoch()
    assert engine.run([0, 1]).iteration == 2


@LIBRARIES
def test_load_state_dict_in_the_middle_of_a_run(lib: Any) -> None:
    """ignite overwrites the counters mid-epoch; ember allows it only from STARTED (where a run resumes)."""
    engine = lib.Engine(lambda e, b: None)
    engine.add_event_handler(
        lib.Events.ITERATION_COMPLETED(once=1),
        lambda e: e.load_state_dict({"epoch_length": 2, "iteration": 2, "max_epochs": 1}),
    )
    if lib is ember_engine:
        with pytest.raises(RuntimeError, match="Call it before run\\(\\), or from a STARTED handler"):
            engine.run([0, 1])
        return
    assert engine.run([0, 1]).iteration == 3  # the second batch ran as iteration 3


def _printed_state(lib: Any, supervised: bool) -> str:
    import torch

    torch.manual_seed(0)
    data = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]
    if supervised:
        model = torch.nn.Linear(2, 1)
        engine = lib.create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.MSELoss())
    else:
        engine = lib.Engine(lambda engine, batch: batch[0].sum())
    engine.add_event_handler(lib.Events.EPOCH_COMPLETED, lambda engine: setattr(engine.state, "best_epoch", 1))
    engine.run(data, max_epochs=2)
    return repr(engine.state).replace(repr(engine.state.output), "<output>")


def test_a_printed_state_reads_as_ignites() -> None:
    """``print(engine.state)`` gives ignite's lines; a supervised trainer's adds ember's three fields at the end."""
    assert _printed_state(ember_engine, supervised=False) == _printed_state(ignite_engine, supervised=False)
    ours = _printed_state(ember_engine, supervised=True).splitlines()
    theirs = _printed_state(ignite_engine, supervised=True).splitlines()
    assert [line for line in ours if line not in theirs] == [
        "\toptimizer_step: 6",
        "\tscaler: <class 'NoneType'>",
        "\tgrad_scaler: <class 'NoneType'>",
    ]
    assert [line for line in ours if line in theirs] == theirs
