"""ClearMLLogger and ClearMLSaver against the real clearml package offline: the offline session is read back.

Each run is a subprocess with its own HOME (ClearML keeps its offline sessions under ``~/.clearml``
and one task per process), for ember and for pytorch-ignite alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("clearml")

from ember.engine import Engine, Events
from ember.handlers.clearml_logger import (
    ClearMLLogger,
    ClearMLSaver,
    OptimizerParamsHandler,
    OutputHandler,
    WeightsHistHandler,
)

ROOT = Path(__file__).resolve().parents[2]

_LOGGING = """
import importlib, sys, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
import torch
from clearml import Task
from tests.handlers.tracker_program import run_program
Task.set_offline(True)
module = importlib.import_module(PACKAGE + ".handlers.clearml_logger")
events = importlib.import_module(PACKAGE + ".engine").Events

def extra(logger, module, trainer, model, optimizer):
    logger.attach(trainer, module.WeightsScalarHandler(model, tag="model"), events.EPOCH_COMPLETED)
    logger.attach(trainer, module.GradsScalarHandler(model, reduction=torch.mean), events.EPOCH_COMPLETED)
    logger.attach(trainer, module.WeightsHistHandler(model), events.EPOCH_COMPLETED)
    logger.attach(trainer, module.GradsHistHandler(model, tag="g"), events.EPOCH_COMPLETED)
    logger.attach_opt_params_handler(trainer, events.ITERATION_STARTED, optimizer, tag="opt")

logger = module.ClearMLLogger(project_name="ember-test", task_name="run", auto_resource_monitoring=False)
run_program(PACKAGE, logger, module, extra=extra)
print("FOLDER", logger.get_task().get_offline_mode_folder())
logger.close()
"""

_SAVING = """
import importlib, json, sys, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
import torch
from clearml import Task
from clearml.binding.frameworks import WeightsFileHandler
Task.set_offline(True)
module = importlib.import_module(PACKAGE + ".handlers.clearml_logger")
engine_module = importlib.import_module(PACKAGE + ".engine")
Checkpoint = importlib.import_module(PACKAGE + ".handlers").Checkpoint
seen = []
WeightsFileHandler.add_post_callback(lambda action, info: (seen.append(info), info)[1])
logger = module.ClearMLLogger(project_name="ember-test", task_name="save", auto_resource_monitoring=False)
saver = module.ClearMLSaver(logger, dirname=sys.argv[1])
trainer = engine_module.Engine(lambda engine, batch: None)
model = torch.nn.Linear(2, 1)
trainer.add_event_handler(engine_module.Events.EPOCH_COMPLETED, Checkpoint({{"model": model}}, saver, n_saved=2))
trainer.run([0], max_epochs=4)
models = [[info.upload_filename, info.local_model_id.split(":")[-1], info.model.name, info.model.comment.split("\\n")[-1]]
          for info in seen]
print("MODELS", json.dumps(models))
logger.close()
"""

_SETUP = """
import importlib, sys, warnings
sys.path.insert(0, {root!r})
import torch
from clearml import Task
Task.set_offline(True)
engine_module = importlib.import_module(PACKAGE + ".engine")
logger_utils = importlib.import_module(PACKAGE + ".handlers.logger_utils")
optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
trainer = engine_module.Engine(lambda engine, batch: None)
evaluator = engine_module.Engine(lambda engine, batch: None)
evaluator.add_event_handler(engine_module.Events.COMPLETED, lambda engine: engine.state.metrics.update(a=1.5))
trainer.add_event_handler(engine_module.Events.EPOCH_COMPLETED, lambda _: evaluator.run([0]))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    logger = logger_utils.setup_trains_logging(
        trainer, optimizer, evaluator, log_every_iters=2, project_name="ember-test", task_name="setup",
        auto_resource_monitoring=False,
    )
print("RENAMED", any("renamed to setup_clearml_logging" in str(w.message) for w in caught))
print("CLASS", type(logger).__name__)
trainer.run([0, 1, 2], max_epochs=2)
print("FOLDER", logger.get_task().get_offline_mode_folder())
logger.close()
"""


def _run(script: str, package: str, home: Path, *args: str) -> str:
    home.mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CLEARML")}
    environment.update(HOME=str(home), PYTHONWARNINGS="ignore")
    code = f"PACKAGE = {package!r}\n" + textwrap.dedent(script).format(root=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=environment, timeout=240, cwd=home
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _reports(stdout: str) -> list[tuple[Any, ...]]:
    """``(type, metric, variant, iteration, value or plot data)`` of each report in the offline session's metrics."""
    folder = Path(next(line.split(" ", 1)[1] for line in stdout.splitlines() if line.startswith("FOLDER ")))
    reports = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        for event in json.loads(line):
            payload = event.get("value", event.get("plot_str"))
            if event["type"] == "plot":
                payload = json.loads(payload)["data"]
            reports.append((event["type"], event["metric"], event["variant"], event["iter"], payload))
    return reports


@pytest.mark.slow
def test_offline_session_holds_what_ignites_holds(tmp_path: Path) -> None:
    """Scalars, learning rates and histograms reported by ember's handlers equal those of ignite's."""
    ours = _reports(_run(_LOGGING, "ember", tmp_path / "ember"))
    theirs = _reports(_run(_LOGGING, "ignite", tmp_path / "ignite"))
    assert sorted(ours, key=repr) == sorted(theirs, key=repr)
    scalars = {(metric, variant) for kind, metric, variant, _, _ in ours if kind == "training_stats_scalar"}
    assert {("training", "loss"), ("training/pair", "1"), ("lr", "0"), ("opt/lr", "0")} <= scalars
    assert {("model/weights_norm/weight", ""), ("grads_mean/bias", ""), ("validation", "mse")} <= scalars
    assert {metric for kind, metric, *_ in ours if kind == "plot"} >= {"weights_weight", "g/grads_bias"}
    first_lr = next(report for report in ours if report[1:3] == ("lr", "0"))
    assert first_lr[3:] == (1, 0.1)


@pytest.mark.slow
def test_saver_names_models_as_ignites(tmp_path: Path) -> None:
    """ClearML's model slots, names and metadata comments equal ignite's for the same Checkpoint run."""
    outputs = {}
    for package in ("ember", "ignite"):
        folder = tmp_path / f"{package}-checkpoints"
        stdout = _run(_SAVING, package, tmp_path / package, str(folder))
        outputs[package] = (json.loads(stdout.split("MODELS ", 1)[1].splitlines()[0]), sorted(os.listdir(folder)))
    assert outputs["ember"] == outputs["ignite"]
    models, files = outputs["ember"]
    assert files == ["model_3.pt", "model_4.pt"]
    assert [model[0] for model in models] == ["model_0.pt", "model_1.pt", "model_0.pt", "model_1.pt"]
    assert models[0][3].startswith("Checkpoint Metadata: basename=model")


def test_missing_clearml_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "clearml", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[clearml\]'"):
        ClearMLLogger(project_name="p", task_name="t")
    with pytest.raises(ImportError, match=r"pip install 'ember\[clearml\]'"):
        ClearMLSaver(dirname="unused")


def test_saver_without_a_task_fails_when_built(tmp_path: Path) -> None:
    from clearml import Task

    assert Task.current_task() is None
    with pytest.raises(RuntimeError, match="needs a ClearML task"):
        ClearMLSaver(dirname=str(tmp_path))
    with pytest.raises(TypeError, match="logger must be a ClearMLLogger"):
        ClearMLSaver(logger=object(), dirname=str(tmp_path))  # type: ignore[arg-type]


def test_handlers_check_their_logger_and_input() -> None:
    engine = Engine(lambda engine, batch: 1.0)
    with pytest.raises(TypeError, match="logs only through a ClearMLLogger"):
        OutputHandler("t", output_transform=float)(engine, object(), Events.ITERATION_COMPLETED)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        WeightsHistHandler("model")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimizer"):
        OptimizerParamsHandler(torch.zeros(1))  # type: ignore[arg-type]


@pytest.mark.slow
def test_setup_trains_logging_reports_what_ignites_reports(tmp_path: Path) -> None:
    """setup_trains_logging warns about the rename and builds a ClearMLLogger reporting ignite's scalars."""
    outputs = {package: _run(_SETUP, package, tmp_path / package) for package in ("ember", "ignite")}
    for stdout in outputs.values():
        assert "RENAMED True" in stdout and "CLASS ClearMLLogger" in stdout
    ours, theirs = (_reports(outputs[package]) for package in ("ember", "ignite"))
    assert sorted(ours, key=repr) == sorted(theirs, key=repr)
    assert [(report[1:4], report[4]) for report in ours if report[1] == "validation"] == [
        (("validation", "a", 1), 1.5),
        (("validation", "a", 2), 1.5),
    ]
