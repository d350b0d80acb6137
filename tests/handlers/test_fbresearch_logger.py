"""FBResearchLogger prints pytorch-ignite's lines for the same run (times masked), through plain logging."""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any

import pytest
import torch

from ember.engine import Engine, Events
from ember.handlers import FBResearchLogger
from ember.handlers.fbresearch_logger import FBResearchLogger as FBResearchLoggerByPath

_TIMES = [
    (re.compile(r"ETA: \d+:\d\d:\d\d"), "ETA: <t>"),
    (re.compile(r"(Iter|Data prep) time: \d+\.\d{4} s"), r"\1 time: <t> s"),
    (re.compile(r"Total time: \d+:\d\d:\d\d"), "Total time: <t>"),
    (re.compile(r"\(\d+\.\d{4} s / it\)"), "(<t> s / it)"),
]


class Lines:
    """A logger that keeps what ``info`` gets."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        for pattern, replacement in _TIMES:
            message = pattern.sub(replacement, message)
        self.lines.append(message)


def _outputs(iteration: int) -> Any:
    return {
        "loss": 1.0 / iteration,
        "acc": torch.tensor(0.5 * iteration),
        "vec": torch.arange(3.0) * iteration,
        "long": torch.arange(12.0),
        "matrix": torch.ones(2, 2),
        "pair": [1, 2.5],
        "empty": [],
        "none": None,
        "nested": {"a": 3},
    }


def _run(package: str, groups: int, max_epochs: int, every: int, **options: Any) -> list[str]:
    engine_module = importlib.import_module(f"{package}.engine")
    logger_module = importlib.import_module(f"{package}.handlers.fbresearch_logger")
    parameters = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    optimizer = torch.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(parameters)])
    trainer = engine_module.Engine(lambda engine, batch: _outputs(engine.state.iteration))

    @trainer.on(engine_module.Events.STARTED)
    def set_attributes(engine: Any) -> None:
        engine.state.alpha = 0.125
        engine.state.beta = torch.tensor([1.0, 2.0])

    lines = Lines()
    logger_module.FBResearchLogger(lines, **options).attach(
        trainer,
        name="Train",
        every=every,
        optimizer=optimizer,
        state_attributes=["alpha", "beta", "missing"],
        output_transform=options.pop("transform", None),
    )
    trainer.run(range(4), max_epochs=max_epochs)
    return lines.lines


@pytest.mark.parametrize(
    ("groups", "max_epochs", "every", "options"),
    [
        (1, 2, 1, {}),
        (2, 1, 2, {"show_output": True}),
        (1, 3, 3, {"show_output": True, "delimiter": " | "}),
    ],
)
def test_lines_equal_ignite(groups: int, max_epochs: int, every: int, options: dict[str, Any]) -> None:
    ours = _run("ember", groups, max_epochs, every, **options)
    theirs = _run("ignite", groups, max_epochs, every, **options)
    assert ours == theirs
    assert ours[0] == f"Train: start epoch [1/{max_epochs}]"


def test_output_transform_and_a_number_output() -> None:
    """A transformed output that is a plain number is printed with 4 decimals, as ignite prints it."""
    results = []
    for package in ("ember", "ignite"):
        engine_module = importlib.import_module(f"{package}.engine")
        logger_module = importlib.import_module(f"{package}.handlers.fbresearch_logger")
        trainer = engine_module.Engine(lambda engine, batch: {"loss": 0.25 * batch})
        lines = Lines()
        logger_module.FBResearchLogger(lines, show_output=True).attach(
            trainer, name="T", output_transform=lambda output: output["loss"]
        )
        trainer.run([1, 2], max_epochs=1)
        results.append(lines.lines)
    assert results[0] == results[1]
    assert "0.5000" in results[0][2]


def test_writes_through_logging() -> None:
    """With a logging.Logger the lines are log records (no extra package needed)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    log = logging.getLogger("ember-test-fbresearch")
    log.setLevel(logging.INFO)
    log.addHandler(Keep())
    trainer = Engine(lambda engine, batch: None)
    FBResearchLoggerByPath(log).attach(trainer, name="Train", every=2)
    trainer.run([0, 1, 2, 3], max_epochs=2)
    assert [line.split(":")[0] for line in records].count("Train") == 5  # 2 starts, 2 epoch ends, 1 run end
    assert sum(line.startswith("Epoch [") for line in records) == 4


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"every": 0}, ValueError, "every must be a positive integer"),
        ({"name": 3}, TypeError, "name must be a string"),
        ({"output_transform": 3}, TypeError, "output_transform must be callable"),
        ({"state_attributes": "alpha"}, TypeError, r"state_attributes=\['alpha'\]"),
        ({"optimizer": object()}, TypeError, "optimizer must be a torch.optim.Optimizer"),
    ],
)
def test_bad_attach_arguments(arguments: dict[str, Any], error: type[Exception], match: str) -> None:
    keywords = {"name": "Train", **arguments}
    with pytest.raises(error, match=match):
        FBResearchLogger(Lines()).attach(Engine(lambda engine, batch: None), **keywords)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(TypeError, match="info"):
        FBResearchLogger(print)
    with pytest.raises(TypeError, match="delimiter"):
        FBResearchLogger(Lines(), delimiter=None)  # type: ignore[arg-type]


def test_one_logger_follows_two_engines() -> None:
    lines = Lines()
    logger = FBResearchLogger(lines)
    first, second = Engine(lambda engine, batch: None), Engine(lambda engine, batch: None)
    logger.attach(first, name="A")
    logger.attach(second, name="B")
    first.run([0], max_epochs=1)
    second.run([0], max_epochs=1)
    assert lines.lines[0] == "A: start epoch [1/1]" and "B: start epoch [1/1]" in lines.lines
    assert Events.COMPLETED  # the engines completed without the timers clashing
