"""The TBPTT example: a bare Engine with custom events counted through event_to_attr learns a delayed copy."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from ember.engine import Engine
from ember.examples import tbptt


def test_tbptt_example_learns_to_carry_information_across_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    result = tbptt.main(["--epochs", "1", "--length", "60", "--chunk", "20"])
    # predicting 0 scores the inputs' variance (about 1); the delayed copy is learned far below it
    assert result["before"] > 0.8
    assert result["after"] < 0.2
    out = capsys.readouterr().out
    # 20 batches x 3 chunks: the counter that event_to_attr declared, advanced by the process function
    assert result["time_iterations"] == 60
    # the handler filtered on the custom event with every=50 fired at chunk 50 only
    assert re.findall(r"chunk +(\d+)", out) == ["50"]
    assert "epoch 1 " in out and "(60 chunks of 20 steps so far)" in out


def test_custom_events_fire_in_order_and_filters_count_time_iterations() -> None:
    """Each iteration fires STARTED/COMPLETED per chunk; filters on them count engine.state.time_iteration."""
    model = tbptt.DelayModel(hidden=4)
    trainer = tbptt.create_tbptt_trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), nn.MSELoss(), chunk=4)
    fired: list[tuple[str, int, int]] = []
    for event in tbptt.TBPTTEvents:
        trainer.add_event_handler(
            event,
            lambda engine, name=event.name: fired.append((name, engine.state.iteration, engine.state.time_iteration)),
        )
    every_third: list[int] = []
    trainer.add_event_handler(
        tbptt.TBPTTEvents.TIME_ITERATION_COMPLETED(every=3),
        lambda engine: every_third.append(engine.state.time_iteration),
    )
    trainer.run(tbptt.make_batches(2, 2, length=10, delay=1, seed=0), max_epochs=1)
    # 10 steps in chunks of 4: 3 chunks per iteration (4, 4, 2)
    assert fired == [
        (name, iteration, chunk)
        for iteration, chunks in ((1, (1, 2, 3)), (2, (4, 5, 6)))
        for chunk in chunks
        for name in ("TIME_ITERATION_STARTED", "TIME_ITERATION_COMPLETED")
    ]
    assert every_third == [3, 6]


def test_custom_events_belong_to_the_engine_that_registered_them() -> None:
    model = tbptt.DelayModel(hidden=4)
    tbptt.create_tbptt_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(), chunk=4)
    other = Engine(lambda engine, batch: None)
    with pytest.raises(ValueError, match="not registered on this engine"):
        other.add_event_handler(tbptt.TBPTTEvents.TIME_ITERATION_COMPLETED, lambda engine: None)
    assert not hasattr(other.state, "time_iteration")


def test_tbptt_rejects_options_that_describe_no_task(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        tbptt.main(["--delay", "100", "--length", "100"])
    assert "--delay must be between 0 and --length - 1" in capsys.readouterr().err
