"""WandBLogger against the real wandb package in offline mode: the run's ``.wandb`` file is read back."""

from __future__ import annotations

import importlib
import json
import struct
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.handlers.tracker_program import run_program

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

from ember.engine import Engine, Events  # noqa: E402
from ember.handlers.wandb_logger import OptimizerParamsHandler, OutputHandler, WandBLogger  # noqa: E402

_BLOCK = 32 * 1024


def _records(path: Path) -> list[bytes]:
    """The records of a ``.wandb`` file: a 7-byte header, then LevelDB-log blocks of chunked records."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    position, records, chunks = 7, [], []
    while position + 7 <= len(data):
        left = _BLOCK - position % _BLOCK
        if left < 7:
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0 and length == 0:  # padding to the end of the block
            position += left
            continue
        payload = data[position + 7 : position + 7 + length]
        if len(payload) < length:  # the service is still writing this record
            break
        position += 7 + length
        if kind == 1:
            records.append(payload)
        elif kind == 2:
            chunks = [payload]
        elif kind == 3:
            chunks.append(payload)
        elif kind == 4:
            records.append(b"".join([*chunks, payload]))
    return records


def _parsed(run_dir: Path) -> list[Any]:
    """The run's records, once wandb's service has written the closing ``exit`` record (it writes after finish)."""
    deadline = time.monotonic() + 60
    while True:
        (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
        records = []
        for payload in _records(path):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            records.append(record)
        if any(record.WhichOneof("record_type") == "exit" for record in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _history(run_dir: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(step, {name: value})`` of each history row the run stored (wandb's own ``_`` keys left out)."""
    rows = []
    for record in _parsed(run_dir):
        if record.WhichOneof("record_type") != "history":
            continue
        values = {}
        for item in record.history.item:
            name = item.key or "/".join(item.nested_key)
            if not name.startswith("_"):
                values[name] = json.loads(item.value_json)
        rows.append((record.history.step.num, values))
    return rows


def _run(package: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict[str, Any]]]:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    module = importlib.import_module(f"{package}.handlers.wandb_logger")
    folder.mkdir()
    logger = module.WandBLogger(project="ember-test", dir=str(folder), settings=wandb.Settings(console="off"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        run_program(package, logger, module)
    logger.close()
    return _history(folder)


def test_offline_run_stores_what_ignite_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same program logs the same names, steps and values through ember's and ignite's WandBLogger."""
    ours = _run("ember", tmp_path / "ember", monkeypatch)
    theirs = _run("ignite", tmp_path / "ignite", monkeypatch)
    assert ours == theirs
    steps = [step for step, _ in ours]
    assert steps == sorted(steps) and steps[0] == 1
    first = dict(ours[0][1])
    assert first["lr/group_0"] == pytest.approx(0.1)
    assert set(first) >= {"training/loss", "training/pair/0", "training/pair/1", "training/alpha"}
    assert any("validation/mse" in values for _, values in ours)


def test_logger_stands_for_the_wandb_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attributes the logger lacks are wandb's (``logger.run``, ``logger.log``), as in ignite; init=False skips init."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandBLogger(project="ember-test", dir=str(tmp_path), settings=wandb.Settings(console="off"))
    try:
        assert logger.run is wandb.run and logger.run is not None
        assert logger.log is wandb.log
        assert WandBLogger(init=False).run is wandb.run
    finally:
        logger.close()
    assert wandb.run is None


def test_missing_wandb_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[wandb\]'"):
        WandBLogger(init=False)


def test_bad_handlers_fail_when_built_or_attached() -> None:
    logger = WandBLogger(init=False)
    engine = Engine(lambda engine, batch: 1.0)
    with pytest.raises(ValueError, match="metric_names, output_transform or state_attributes"):
        OutputHandler("training")
    with pytest.raises(TypeError, match="metric_names"):
        OutputHandler("training", metric_names="loss")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="'momentum_x'"):
        logger.attach(engine, OptimizerParamsHandler(optimizer, param_name="momentum_x"), Events.ITERATION_STARTED)
    engine.register_events("custom")
    with pytest.raises(ValueError, match="global_step_transform"):
        logger.attach_output_handler(engine, "custom", tag="t", output_transform=lambda output: output)
    with pytest.warns(UserWarning, match="sync is ignored"):
        OutputHandler("training", output_transform=float, sync=True)


def test_handler_of_another_logger_is_refused(tmp_path: Path) -> None:
    """A W&B handler called with another logger fails with a TypeError naming both."""
    engine = Engine(lambda engine, batch: 1.0)
    handler = OutputHandler("training", output_transform=float)
    with pytest.raises(TypeError, match="logs only through a WandBLogger, got object"):
        handler(engine, object(), Events.ITERATION_COMPLETED)


def _setup_program(package: str, folder: Path) -> None:
    """ignite's setup_wandb_logging on a trainer with two optimizers and an evaluator, run for 2 epochs."""
    engine_module = importlib.import_module(f"{package}.engine")
    metrics = importlib.import_module(f"{package}.metrics")
    logger_utils = importlib.import_module(f"{package}.handlers.logger_utils")
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    optimizers = {"a": torch.optim.SGD(model.parameters(), lr=0.1), "b": torch.optim.Adam(model.parameters(), lr=0.01)}
    data = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]
    trainer = engine_module.Engine(lambda engine, batch: float(engine.state.iteration))
    metrics.RunningAverage(output_transform=lambda output: output).attach(trainer, "average")
    evaluator = engine_module.Engine(lambda engine, batch: (model(batch[0]).detach(), batch[1]))
    metrics.MeanSquaredError().attach(evaluator, "mse")
    trainer.add_event_handler(engine_module.Events.EPOCH_COMPLETED, lambda _: evaluator.run(data))
    logger = logger_utils.setup_wandb_logging(
        trainer,
        optimizers,
        {"val": evaluator},
        log_every_iters=2,
        project="ember-test",
        dir=str(folder),
        settings=wandb.Settings(console="off"),
    )
    trainer.run(data, max_epochs=2)
    logger.close()


def test_setup_wandb_logging_logs_what_ignites_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """setup_wandb_logging builds a WandBLogger and logs the same rows as ignite's (evaluators at the iteration)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    histories = {}
    for package in ("ember", "ignite"):
        folder = tmp_path / package
        folder.mkdir()
        _setup_program(package, folder)
        histories[package] = _history(folder)
    assert histories["ember"] == histories["ignite"]
    logged = {name for _, values in histories["ember"] for name in values}
    assert logged == {"training/average", "a/lr/group_0", "b/lr/group_0", "val/mse"}
    assert [step for step, values in histories["ember"] if "val/mse" in values] == [3, 6]
