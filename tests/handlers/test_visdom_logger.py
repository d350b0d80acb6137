"""VisdomLogger against the real visdom client in offline mode: the calls it writes to a file are read back."""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.handlers.tracker_program import run_program

pytest.importorskip("visdom")

from ember.engine import Engine, Events
from ember.handlers.visdom_logger import (
    GradsScalarHandler,
    OptimizerParamsHandler,
    OutputHandler,
    VisdomLogger,
    WeightsScalarHandler,
)
from ember.handlers.wandb_logger import OutputHandler as WandBOutputHandler


def _plots(path: Path) -> list[tuple[str, str, str, list[float], list[float]]]:
    """``(kind, title, x label, xs, ys)`` of each plot call in visdom's offline log (window ids are random)."""
    calls = []
    for line in path.read_text().splitlines():
        endpoint, message = json.loads(line)
        if endpoint not in ("events", "update"):
            calls.append((endpoint, "", "", [], []))
            continue
        (trace,) = message["data"]
        opts = message["opts"]
        calls.append((endpoint, opts["title"], opts.get("xlabel", ""), trace["x"], trace["y"]))
    return calls


def _weights(logger: Any, module: Any, trainer: Any, model: torch.nn.Module, optimizer: Any) -> None:
    events = importlib.import_module(f"{module.__name__.split('.')[0]}.engine").Events
    logger.attach(trainer, module.WeightsScalarHandler(model, tag="model"), events.EPOCH_COMPLETED)
    logger.attach(trainer, module.GradsScalarHandler(model, reduction=torch.mean), events.EPOCH_COMPLETED)


def _run(package: str, path: Path, num_workers: int) -> list[tuple[str, str, str, list[float], list[float]]]:
    module = importlib.import_module(f"{package}.handlers.visdom_logger")
    logger = module.VisdomLogger(offline=True, log_to_filename=str(path), env="test", num_workers=num_workers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        run_program(package, logger, module, extra=_weights, evaluator_step_event="EPOCH_COMPLETED")
    logger.close()
    return _plots(path)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_offline_plots_equal_ignites(tmp_path: Path, num_workers: int) -> None:
    """The same program makes the same plot calls (titles, axis labels, steps, values) as ignite's VisdomLogger."""
    ours = _run("ember", tmp_path / "ember.log", num_workers)
    theirs = _run("ignite", tmp_path / "ignite.log", 1)
    assert ours == theirs
    titles = {title for _, title, _, _, _ in ours}
    assert {"training/loss", "training/pair/1", "training/alpha", "lr/group_0", "validation/mse"} <= titles
    assert "model/weights_norm/weight" in titles and "grads_mean/bias" in titles
    first_lr = next(call for call in ours if call[1] == "lr/group_0")
    assert first_lr[0] == "events" and first_lr[3:] == ([1.0], [0.1])
    assert first_lr[2] == "Events.ITERATION_STARTED"


def test_missing_visdom_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "visdom", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[visdom\]'"):
        VisdomLogger(offline=True)


def test_unreachable_server_fails_when_built() -> None:
    with pytest.raises(RuntimeError, match="cannot connect to a Visdom server"):
        VisdomLogger(server="http://127.0.0.1", port=9, raise_exceptions=False)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_workers"):
        VisdomLogger(offline=True, log_to_filename=str(tmp_path / "log"), num_workers=-1)
    with pytest.raises(TypeError, match="port must be an integer"):
        VisdomLogger(offline=True, port="8097")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="show_legend"):
        OutputHandler("t", output_transform=float, show_legend="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reduction"):
        WeightsScalarHandler(torch.nn.Linear(2, 1), reduction=lambda tensor: tensor * 2)


def test_another_loggers_handler_fails_when_attached(tmp_path: Path) -> None:
    logger = VisdomLogger(offline=True, log_to_filename=str(tmp_path / "log"), num_workers=0)
    engine = Engine(lambda engine, batch: 1.0)
    with pytest.raises(TypeError, match="logs only through a WandBLogger, got VisdomLogger"):
        logger.attach(engine, WandBOutputHandler("t", output_transform=float), Events.ITERATION_COMPLETED)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="param groups have no 'betas'"):
        logger.attach_opt_params_handler(engine, Events.ITERATION_STARTED, optimizer, param_name="betas")
    logger.attach(engine, GradsScalarHandler(torch.nn.Linear(2, 1)), Events.EPOCH_COMPLETED)
    engine.run([0, 1])  # no gradients yet: nothing to plot, and no error
    logger.close()
    log = tmp_path / "log"
    assert not log.exists() or not [call for call in _plots(log) if call[0] in ("events", "update")]
    with pytest.raises(TypeError, match="logs only through a VisdomLogger"):
        OptimizerParamsHandler(optimizer)(engine, object(), Events.ITERATION_STARTED)


def test_setup_visdom_logging_plots_what_ignites_plots(tmp_path: Path) -> None:
    """setup_visdom_logging builds a VisdomLogger from its keywords and makes ignite's plot calls."""
    plots = {}
    for package in ("ember", "ignite"):
        engine_module = importlib.import_module(f"{package}.engine")
        logger_utils = importlib.import_module(f"{package}.handlers.logger_utils")
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        trainer = engine_module.Engine(lambda engine, batch: None)
        evaluator = engine_module.Engine(lambda engine, batch: None)
        evaluator.add_event_handler(engine_module.Events.COMPLETED, lambda engine: engine.state.metrics.update(a=1.5))
        trainer.add_event_handler(engine_module.Events.EPOCH_COMPLETED, lambda _, run=evaluator.run: run([0]))
        log = tmp_path / f"{package}.log"
        logger = logger_utils.setup_visdom_logging(
            trainer, optimizer, evaluator, log_every_iters=2, offline=True, log_to_filename=str(log), num_workers=0
        )
        trainer.run([0, 1, 2], max_epochs=2)
        logger.close()
        plots[package] = _plots(log)
    # the x-axis label is str(event): ignite's filtered event prints its filter function's address there
    assert plots["ember"][0][2] == "FilteredEvent(Events.ITERATION_STARTED, every=2)"
    assert [call[:2] + call[3:] for call in plots["ember"]] == [call[:2] + call[3:] for call in plots["ignite"]]
    assert {call[1] for call in plots["ember"] if call[1]} == {"lr/group_0", "validation/a"}
