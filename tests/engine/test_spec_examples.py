"""Every example of the API description (shared/spec/ignite-engine-api.txt), with ``ignite`` -> ``ember``.

Each test reproduces one example as written there, adding only the objects the example assumes
(a model, an optimizer, a data loader, a process function) and assertions on what it promises.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ember.engine import Engine, Events, State, create_supervised_evaluator, create_supervised_trainer


@pytest.fixture
def setting() -> dict[str, Any]:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    dataset = TensorDataset(torch.randn(32, 4), torch.randint(0, 3, (32,)))
    return {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "loss_fn": nn.CrossEntropyLoss(),
        "data_loader": DataLoader(dataset, batch_size=8),
    }


def test_engine_class_example(setting: dict[str, Any]) -> None:
    model, optimizer, loss_fn, data_loader = (
        setting["model"],
        setting["optimizer"],
        setting["loss_fn"],
        setting["data_loader"],
    )

    def train_and_store_loss(engine, batch):  # type: ignore[no-untyped-def]
        inputs, targets = batch
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    engine = Engine(train_and_store_loss)
    engine.run(data_loader)

    # Loss value is now stored in `engine.state.output`.
    assert isinstance(engine.state.output, float)
    assert engine.state.iteration == len(data_loader)


def test_add_event_handler_example(capsys: pytest.CaptureFixture[str]) -> None:
    def process_function(engine: Engine, batch: Any) -> None:
        return None

    engine = Engine(process_function)

    def print_epoch(engine):  # type: ignore[no-untyped-def]
        print("Epoch: {}".format(engine.state.epoch))  # noqa: UP032 (as the example writes it)

    engine.add_event_handler(Events.EPOCH_COMPLETED, print_epoch)
    engine.run([1, 2], max_epochs=2)
    assert capsys.readouterr().out == "Epoch: 1\nEpoch: 2\n"


def test_register_events_example() -> None:
    def process_function(engine: Engine, batch: Any) -> None:
        engine.fire_event(Custom_Events.FOO_EVENT)

    class Custom_Events(Enum):
        FOO_EVENT = "foo_event"
        BAR_EVENT = "bar_event"

    engine = Engine(process_function)
    engine.register_events(*Custom_Events)

    fired: list[str] = []
    engine.add_event_handler(Custom_Events.FOO_EVENT, lambda e: fired.append("foo"))
    engine.run([1, 2])
    assert fired == ["foo", "foo"]


def test_register_events_with_state_attribute_example() -> None:
    class TBPTT_Events(Enum):
        TIME_ITERATION_STARTED = "time_iteration_started"
        TIME_ITERATION_COMPLETED = "time_iteration_completed"

    TBPTT_event_to_attr = {
        TBPTT_Events.TIME_ITERATION_STARTED: "time_iteration",
        TBPTT_Events.TIME_ITERATION_COMPLETED: "time_iteration",
    }

    def process_function(engine: Engine, batch: Any) -> None:
        for _ in range(3):
            engine.fire_event(TBPTT_Events.TIME_ITERATION_STARTED)
            engine.state.time_iteration += 1
            engine.fire_event(TBPTT_Events.TIME_ITERATION_COMPLETED)

    data = [1, 2]
    engine = Engine(process_function)
    engine.register_events(*TBPTT_Events, event_to_attr=TBPTT_event_to_attr)
    engine.run(data)
    # engine.state contains an attribute time_iteration, which can be accessed using engine.state.time_iteration
    assert engine.state.time_iteration == 6


def test_removable_event_handle_example(capsys: pytest.CaptureFixture[str]) -> None:
    data = [1, 2, 3]
    engine = Engine()

    def print_epoch(engine):  # type: ignore[no-untyped-def]
        print("Epoch: {}".format(engine.state.epoch))  # noqa: UP032 (as the example writes it)

    with engine.add_event_handler(Events.EPOCH_COMPLETED, print_epoch):
        # print_epoch handler registered for a single run
        engine.run(data)

    # print_epoch handler is now unregistered
    assert not engine.has_event_handler(print_epoch)
    engine.run(data)
    assert capsys.readouterr().out == "Epoch: 1\n"


def test_on_decorator_and_has_event_handler() -> None:
    engine = Engine(lambda engine, batch: None)

    @engine.on(Events.ITERATION_COMPLETED, "tag")
    def handler(engine: Engine, tag: str) -> None:
        engine.state.tag = tag

    assert engine.has_event_handler(handler) and engine.has_event_handler(handler, Events.ITERATION_COMPLETED)
    engine.run([1])
    assert engine.state.tag == "tag"
    engine.remove_event_handler(handler, Events.ITERATION_COMPLETED)
    assert not engine.has_event_handler(handler)


def test_run_returns_state_and_terminate(setting: dict[str, Any]) -> None:
    engine = Engine(lambda engine, batch: None)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate())
    state = engine.run([1, 2, 3], max_epochs=5)
    assert isinstance(state, State) and (state.epoch, state.iteration) == (1, 2)


def test_events_values_match_the_spec() -> None:
    spec_values = {
        "COMPLETED": "completed",
        "EPOCH_COMPLETED": "epoch_completed",
        "EPOCH_STARTED": "epoch_started",
        "EXCEPTION_RAISED": "exception_raised",
        "ITERATION_COMPLETED": "iteration_completed",
        "ITERATION_STARTED": "iteration_started",
        "STARTED": "started",
    }
    assert {name: Events[name].value for name in spec_values} == spec_values


def test_supervised_factories_defaults(setting: dict[str, Any]) -> None:
    model, optimizer, loss_fn, data_loader = (
        setting["model"],
        setting["optimizer"],
        setting["loss_fn"],
        setting["data_loader"],
    )
    trainer = create_supervised_trainer(model, optimizer, loss_fn)
    trainer.run(data_loader)
    assert isinstance(trainer.state.output, float)

    evaluator = create_supervised_evaluator(model)
    evaluator.run(data_loader)
    y_pred, y = evaluator.state.output
    assert y_pred.shape == (8, 3) and y.shape == (8,)
