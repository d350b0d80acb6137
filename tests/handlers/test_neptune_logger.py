"""NeptuneLogger and NeptuneSaver against the real Neptune client in offline mode: the run's operation log is read back."""

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

pytest.importorskip("neptune")

from ember.engine import Engine, Events
from ember.handlers.neptune_logger import (
    NeptuneLogger,
    NeptuneSaver,
    OutputHandler,
    WeightsScalarHandler,
)


def _operations(folder: Path) -> list[dict[str, Any]]:
    """The operations of the one offline run under ``folder/.neptune`` (Neptune's own fields left out)."""
    (run_folder,) = (folder / ".neptune" / "offline").glob("run__*")
    operations = []
    for log in sorted(run_folder.glob("data-*.log")):
        for line in log.read_text().splitlines():
            operation = json.loads(line)["obj"]
            if operation["path"][0] not in ("sys", "monitoring", "source_code"):
                operations.append(operation)
    return operations


def _series(operations: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for operation in operations:
        if operation["type"] == "LogFloats":
            values = [(item["step"], item["value"]) for item in operation["values"]]
            series.setdefault("/".join(operation["path"]), []).extend(values)
    return series


def _extra(logger: Any, module: Any, trainer: Any, model: torch.nn.Module, optimizer: Any) -> None:
    events = importlib.import_module(f"{module.__name__.split('.')[0]}.engine").Events
    logger.attach(trainer, module.WeightsScalarHandler(model, tag="model"), events.ITERATION_COMPLETED)
    logger.attach(trainer, module.GradsScalarHandler(model, reduction=torch.mean), events.EPOCH_COMPLETED)


def _run(package: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[int, float]]]:
    folder.mkdir()
    monkeypatch.chdir(folder)
    module = importlib.import_module(f"{package}.handlers.neptune_logger")
    logger = module.NeptuneLogger(project="ember/test", mode="offline", capture_hardware_metrics=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_program(package, logger, module, extra=_extra)
    logger.close()
    return _series(_operations(folder))


def test_offline_run_holds_what_ignites_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same program appends the same series (names, steps, values) as ignite's NeptuneLogger."""
    ours = _run("ember", tmp_path / "ember", monkeypatch)
    theirs = _run("ignite", tmp_path / "ignite", monkeypatch)
    assert ours == theirs
    assert ours["lr/group_0"][0] == (1, pytest.approx(0.1))
    assert [step for step, _ in ours["training/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in ours["validation/mse"]] == [3, 6]
    assert {"training/pair/1", "training/alpha", "model/weights_norm/weight", "grads_mean/bias"} <= set(ours)
    (weight,) = {value for step, value in ours["model/weights_norm/weight"] if step == 6}
    assert weight > 0


def test_saver_uploads_and_removes_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Checkpoint through NeptuneSaver uploads each file field and deletes the ones n_saved drops."""
    from ember.handlers import Checkpoint

    monkeypatch.chdir(tmp_path)
    logger = NeptuneLogger(project="ember/test", mode="offline", capture_hardware_metrics=False)
    model = torch.nn.Linear(2, 1)
    trainer = Engine(lambda engine, batch: None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"model": model}, NeptuneSaver(logger), n_saved=1))
    trainer.run([0], max_epochs=2)
    logger.close()
    operations = [(operation["type"], "/".join(operation["path"])) for operation in _operations(tmp_path)]
    uploads = [path for kind, path in operations if kind.startswith("Upload")]
    assert uploads == ["model_1.pt", "model_2.pt"]
    assert ("DeleteAttribute", "model_1.pt") in operations
    (run_folder,) = (tmp_path / ".neptune" / "offline").glob("run__*")
    uploaded = [path for path in run_folder.rglob("*") if path.is_file() and path.stat().st_size > 100]
    assert any(_is_checkpoint(path, model) for path in uploaded), uploaded


def _is_checkpoint(path: Path, model: torch.nn.Module) -> bool:
    try:
        state = torch.load(path, weights_only=True)
    except Exception:
        return False
    return torch.equal(state["weight"], model.weight.detach()) if isinstance(state, dict) else False


def test_logger_reads_and_writes_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``logger[key]`` is the run's field (debug mode keeps fields in memory, where they can be fetched)."""
    monkeypatch.chdir(tmp_path)  # neptune keeps a .neptune/ folder in the working directory even in debug mode
    logger = NeptuneLogger(project="ember/test", mode="debug", capture_hardware_metrics=False)
    logger["parameters/lr"] = 0.5
    assert logger["parameters/lr"].fetch() == 0.5
    assert logger.get_url == logger.experiment.get_url  # the run's own (bound) methods
    logger.close()


def test_missing_neptune_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "neptune", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[neptune\]'"):
        NeptuneLogger(mode="offline")


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="project must be a string"):
        NeptuneLogger(project=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="neptune_logger must be a NeptuneLogger"):
        NeptuneSaver(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="logs only through a NeptuneLogger"):
        OutputHandler("t", output_transform=float)(Engine(lambda e, b: 1.0), object(), Events.COMPLETED)
    with pytest.raises(TypeError, match="reduction"):
        WeightsScalarHandler(torch.nn.Linear(2, 1), reduction=lambda tensor: tensor)


def test_setup_neptune_logging_logs_what_ignites_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """setup_neptune_logging builds a NeptuneLogger from its keywords and appends ignite's series."""
    series = {}
    for package in ("ember", "ignite"):
        folder = tmp_path / package
        folder.mkdir()
        monkeypatch.chdir(folder)
        engine_module = importlib.import_module(f"{package}.engine")
        logger_utils = importlib.import_module(f"{package}.handlers.logger_utils")
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        trainer = engine_module.Engine(lambda engine, batch: None)
        evaluator = engine_module.Engine(lambda engine, batch: None)
        evaluator.add_event_handler(engine_module.Events.COMPLETED, lambda engine: engine.state.metrics.update(a=1.5))
        trainer.add_event_handler(engine_module.Events.EPOCH_COMPLETED, lambda _, run=evaluator.run: run([0]))
        logger = logger_utils.setup_neptune_logging(
            trainer, optimizer, evaluator, log_every_iters=2, project="ember/test", mode="offline"
        )
        trainer.run([0, 1, 2], max_epochs=2)
        logger.close()
        series[package] = _series(_operations(folder))
    assert series["ember"] == series["ignite"]
    assert series["ember"]["validation/a"] == [(1, 1.5), (2, 1.5)]
    assert [step for step, _ in series["ember"]["lr/group_0"]] == [2, 4, 6]
