"""EpochOutputStore (ignite.handlers.stores): the outputs of the last epoch, on a real engine."""

from __future__ import annotations

import pytest

from ember.engine import Engine, Events
from ember.handlers import EpochOutputStore


def test_keeps_the_outputs_of_each_epoch_and_stores_them_in_state() -> None:
    engine = Engine(lambda engine, batch: {"y": batch * 2, "epoch": engine.state.epoch})
    store = EpochOutputStore(output_transform=lambda output: (output["epoch"], output["y"]))
    store.attach(engine, name="outputs")
    seen: list[list[tuple[int, int]]] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: seen.append(list(e.state.outputs)))
    state = engine.run([1, 2, 3], max_epochs=2)
    assert seen == [[(1, 2), (1, 4), (1, 6)], [(2, 2), (2, 4), (2, 6)]]  # emptied when each epoch starts
    assert state.outputs == store.data == [(2, 2), (2, 4), (2, 6)]


def test_misuse_fails_when_wired() -> None:
    with pytest.raises(TypeError, match=r"output_transform has parameters \(engine, output\) but will be called"):
        EpochOutputStore(lambda engine, output: output)
    store = EpochOutputStore()
    engine = Engine()
    with pytest.raises(ValueError, match=r"name must be a valid attribute name for engine\.state, got 'my outputs'"):
        store.attach(engine, name="my outputs")
    store.attach(engine)
    with pytest.raises(RuntimeError, match=r"EpochOutputStore is already attached to this engine"):
        store.attach(engine)


def test_store_by_hand_fills_the_name_given_to_attach() -> None:
    """ignite's store(engine) takes no name: it fills the attribute named when attached."""
    engine = Engine(lambda engine, batch: batch)
    store = EpochOutputStore()
    store.attach(engine, name="outputs")
    engine.run([1, 2])
    engine.state.outputs = None
    store.store(engine)
    assert engine.state.outputs == [1, 2]
    with pytest.raises(ValueError, match=r"store needs the engine\.state attribute to fill: pass name='outputs'"):
        EpochOutputStore().store(engine)
