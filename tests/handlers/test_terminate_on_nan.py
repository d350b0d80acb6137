"""TerminateOnNan on real runs: which outputs stop the run, and the log line that says where."""

from __future__ import annotations

import logging
from collections import namedtuple
from typing import Any

import pytest
import torch

from ember.engine import Engine, Events
from ember.handlers import TerminateOnNan, find_non_finite

NAN, INF = float("nan"), float("inf")
Pair = namedtuple("Pair", ["loss", "extra"])

# (bad output, where the log line must say the problem is)
NON_FINITE = [
    pytest.param(NAN, "output is nan", id="float-nan"),
    pytest.param(-INF, "output is -inf", id="float-minus-inf"),
    pytest.param(torch.tensor(NAN), "output is nan", id="scalar-tensor"),
    pytest.param(
        torch.tensor([1.0, INF, NAN, 2.0]), "output has 2 NaN or infinite value(s) out of 4", id="vector-tensor"
    ),
    pytest.param({"loss": torch.tensor(INF), "acc": 0.5}, "output['loss'] is inf", id="dict-of-tensor"),
    pytest.param({"loss": 0.1, "parts": [1.0, (2.0, NAN)]}, "output['parts'][1][1] is nan", id="nested-float"),
    pytest.param((torch.zeros(2), {"x": torch.tensor([[0.0, NAN]])}), "output[1]['x'] has 1 NaN", id="nested-tensor"),
    pytest.param(Pair(torch.tensor(0.3), torch.tensor(-INF)), "output[1] is -inf", id="namedtuple"),
    pytest.param(torch.tensor([1.0, NAN], dtype=torch.float16), "output has 1 NaN", id="half-precision"),
    pytest.param(torch.tensor([complex(1.0, NAN), 0j]), "output has 1 NaN", id="complex"),
    pytest.param(torch.tensor(complex(INF, 0.0)), "output is (inf+0j)", id="complex-scalar"),
]

FINITE = [
    pytest.param(0.5, id="float"),
    pytest.param(3, id="int"),
    pytest.param(None, id="none"),
    pytest.param("text", id="string"),
    pytest.param(torch.tensor([1, 2, 3]), id="int-tensor"),
    pytest.param({"loss": torch.tensor(0.1), "name": "batch", "n": 4}, id="dict"),
    pytest.param([torch.ones(2, 2), (1.0, -2.5)], id="nested"),
    pytest.param(torch.tensor([1e30, -1e30]), id="large-but-finite"),
]


def run_with_outputs(outputs: list[Any], handler: TerminateOnNan) -> tuple[Engine, list[Any]]:
    """Run one epoch whose iteration ``i`` returns ``outputs[i - 1]``; record the end-of-run events."""
    trainer = Engine(lambda engine, batch: outputs[engine.state.iteration - 1])
    handler.attach(trainer)
    fired: list[Any] = []
    for event in (Events.TERMINATE, Events.EPOCH_COMPLETED, Events.COMPLETED):
        trainer.add_event_handler(event, lambda engine, event=event: fired.append(event))
    trainer.run(range(len(outputs)))
    return trainer, fired


@pytest.mark.parametrize(("bad", "where"), NON_FINITE)
def test_a_non_finite_output_stops_the_run_and_says_where(
    bad: Any, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ember.handlers.terminate_on_nan"):
        trainer, fired = run_with_outputs([0.1, 0.2, bad, 0.3, 0.4], TerminateOnNan())
    assert trainer.state.iteration == 3
    assert fired == [Events.TERMINATE, Events.COMPLETED]
    assert f"at epoch 1, iteration 3, {where}" in caplog.text
    assert "terminating the run" in caplog.text


@pytest.mark.parametrize("good", FINITE)
def test_finite_outputs_let_the_run_finish(good: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ember.handlers.terminate_on_nan"):
        trainer, fired = run_with_outputs([good] * 4, TerminateOnNan())
    assert trainer.state.iteration == 4
    assert fired == [Events.EPOCH_COMPLETED, Events.COMPLETED]
    assert caplog.text == ""


@pytest.mark.parametrize(("bad", "where"), NON_FINITE)
def test_find_non_finite_names_the_place(bad: Any, where: str) -> None:
    found = find_non_finite(bad)
    assert found is not None and found.startswith(where)


@pytest.mark.parametrize("good", FINITE)
def test_find_non_finite_finds_nothing_in_finite_values(good: Any) -> None:
    assert find_non_finite(good) is None


def test_output_transform_chooses_what_is_checked() -> None:
    """A NaN outside the chosen part is ignored; one inside stops the run."""
    outputs = [{"loss": 0.1, "debug": NAN}, {"loss": 0.2, "debug": NAN}, {"loss": NAN, "debug": 0.0}]
    trainer, _ = run_with_outputs(outputs + [{"loss": 0.3, "debug": 0.0}], TerminateOnNan(lambda out: out["loss"]))
    assert trainer.state.iteration == 3


def test_called_directly_with_a_hand_built_engine(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine()
    engine.state.iteration, engine.state.epoch = 7, 2
    handler = TerminateOnNan()
    engine.state.output = {"loss": torch.tensor(1.0)}
    with caplog.at_level(logging.WARNING, logger="ember.handlers.terminate_on_nan"):
        handler(engine)
        assert caplog.text == ""
        engine.state.output = {"loss": torch.tensor(NAN)}
        handler(engine)
    assert "at epoch 2, iteration 7, output['loss'] is nan" in caplog.text


def test_ignite_spelling_added_with_add_event_handler() -> None:
    trainer = Engine(lambda engine, batch: {"loss": batch})
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, TerminateOnNan(output_transform=lambda output: output["loss"])
    )
    assert trainer.run([1.0, float("inf"), 2.0]).iteration == 2


def test_can_check_at_another_event() -> None:
    """Attached at EPOCH_COMPLETED, it checks the last output of each epoch only."""
    trainer = Engine(lambda engine, batch: batch)
    TerminateOnNan().attach(trainer, Events.EPOCH_COMPLETED)
    state = trainer.run([1.0, NAN, 2.0], max_epochs=3)
    assert state.epoch == 3


def test_attaching_twice_to_the_same_engine_is_refused() -> None:
    engine = Engine()
    handler = TerminateOnNan()
    handler.attach(engine)
    with pytest.raises(RuntimeError, match=r"already attached to this engine.*Attach it once"):
        handler.attach(engine)


def test_one_handler_may_watch_two_engines() -> None:
    handler = TerminateOnNan()
    first, second = Engine(), Engine()
    handler.attach(first)
    handler.attach(second)
    assert first.has_event_handler(handler) and second.has_event_handler(handler)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: TerminateOnNan("loss"), TypeError, r"output_transform must be a callable, got 'loss' \(str\)"),
        (
            lambda: TerminateOnNan(lambda engine, output: output),
            TypeError,
            r"output_transform has parameters \(engine, output\) but will be called as output_transform\(output\)",
        ),
        (lambda: TerminateOnNan().attach("engine"), TypeError, r"expects an ember Engine, got 'engine' \(str\)"),
    ],
)
def test_bad_arguments_are_refused(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_has_a_logger_named_after_its_class() -> None:
    """ignite's TerminateOnNan has a ``logger`` attribute; ember's reports the stop through it."""
    assert TerminateOnNan().logger is logging.getLogger("ember.handlers.terminate_on_nan.TerminateOnNan")
