"""A migrating ignite user's training script, run as written for ignite and then with ``ignite`` replaced by
``ember`` in its imports (the one edit the migration guide asks for): the same output.

The script is the kind ignite's docs and examples teach: scikit-learn's digits (real data), a small MLP,
``create_supervised_trainer``/``create_supervised_evaluator``,
``ignite.contrib.engines.common.setup_common_training_handlers`` (checkpoints, a learning-rate schedule,
running averages, progress bars), ``save_best_model_by_val_score``, ``add_early_stopping_by_val_score``, a
``ProgressBar`` on the evaluator and a ``TensorboardLogger`` with output and optimizer handlers, for 3
epochs. A second script takes the LR finder, an EMA model, the new metrics and a resume through the same
comparison. Each is text, run by ``exec`` once per library, so the ember run is exactly the ignite script with
the imports renamed. Compared: the lines it prints (metrics per epoch), the files it writes (names, and
the tensors each checkpoint holds), the scalars the TensorBoard files hold, the engines' counters and the
final weights, bit for bit. What the progress bars draw is not compared: ember draws nothing on a stderr
that is not a terminal (docs/migration.md); ``tests/contrib/test_engines_common.py`` compares the bars on a
terminal.

ignite's quick start itself (two evaluators, EarlyStopping, ModelCheckpoint) is
``tests/differential/test_programs.py::test_the_program_gives_ignites_results``.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("sklearn", reason="the script trains on scikit-learn's digits")
pytest.importorskip("tensorboard", reason="the script's TensorboardLogger is read back with tensorboard")

SCRIPT = """
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ignite.contrib.engines import common
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.handlers import PiecewiseLinear, ProgressBar, global_step_from_engine
from ignite.handlers.tensorboard_logger import TensorboardLogger
from ignite.metrics import Accuracy, Loss
from ignite.utils import manual_seed

manual_seed(12)
digits = load_digits()
images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
labels = torch.tensor(digits.target)
train_loader = DataLoader(TensorDataset(images[:1200], labels[:1200]), batch_size=64, shuffle=True)
val_loader = DataLoader(TensorDataset(images[1200:], labels[1200:]), batch_size=128)

model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Dropout(0.1), nn.Linear(48, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()

trainer = create_supervised_trainer(
    model, optimizer, criterion, output_transform=lambda x, y, y_pred, loss: {"batch_loss": loss.item()}
)
evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy(), "nll": Loss(criterion)})
lr_scheduler = PiecewiseLinear(optimizer, "lr", milestones_values=[(0, 0.05), (20, 0.2), (57, 0.01)])

common.setup_common_training_handlers(
    trainer,
    to_save={"model": model, "optimizer": optimizer, "trainer": trainer},
    save_every_iters=15,
    output_path=str(OUTPUT / "checkpoints"),
    lr_scheduler=lr_scheduler,
    output_names=["batch_loss"],
    with_pbars=True,
    log_every_iters=5,
    n_saved=2,
)
ProgressBar(desc="Validation").attach(evaluator)


@trainer.on(Events.EPOCH_COMPLETED)
def validate(engine):
    metrics = evaluator.run(val_loader).metrics
    print(f"Epoch {engine.state.epoch}: accuracy {metrics['accuracy']:.4f} nll {metrics['nll']:.4f}"
          f" running batch_loss {engine.state.metrics['batch_loss']:.4f}")


best = common.save_best_model_by_val_score(
    str(OUTPUT / "best"), evaluator, model, "accuracy", n_saved=2, trainer=trainer, tag="val"
)
common.add_early_stopping_by_val_score(2, evaluator, trainer, "accuracy")

tb_logger = TensorboardLogger(log_dir=str(OUTPUT / "tb"))
tb_logger.attach_output_handler(
    trainer, event_name=Events.ITERATION_COMPLETED(every=4), tag="training", metric_names="all"
)
tb_logger.attach_output_handler(
    evaluator,
    event_name=Events.COMPLETED,
    tag="validation",
    metric_names=["accuracy", "nll"],
    global_step_transform=global_step_from_engine(trainer),
)
tb_logger.attach_opt_params_handler(trainer, event_name=Events.ITERATION_STARTED(every=4), optimizer=optimizer)

state = trainer.run(train_loader, max_epochs=3)
tb_logger.close()
print("done", state.epoch, state.iteration, "best:", type(best.last_checkpoint).__name__, best.last_checkpoint.name)
"""


# the keys of ignite's Engine.state_dict() with epoch_length given; ember's adds the position in the data, so
# that a resume continues at the next batch (docs/migration.md, "ember's own state dict resumes exactly")
IGNITE_ENGINE_STATE_KEYS = ("epoch_length", "iteration", "max_epochs")

# The second script: the LR-finder notebook's steps (find, apply the suggestion), an EMA model with its own
# evaluator, metric arithmetic and the new metrics in one evaluator, gen_save_best_models_by_val_score,
# setup_tb_logging plus weight and gradient handlers on ignite's contrib import paths, then a resume from
# the last checkpoint with Checkpoint.load_objects into a fresh trainer.
LR_FINDER_EMA_AND_RESUME = """import torch, math
from pathlib import Path
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ignite.contrib.engines import common
from ignite.contrib.handlers import ProgressBar, TensorboardLogger
from ignite.contrib.handlers.tensorboard_logger import (
    GradsScalarHandler, OptimizerParamsHandler, OutputHandler, WeightsHistHandler, WeightsScalarHandler,
)
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.handlers import Checkpoint, DiskSaver, EMAHandler, FastaiLRFinder, global_step_from_engine
from ignite.metrics import Accuracy, Loss, Precision, Recall, ConfusionMatrix, ClassificationReport, ROC_AUC, CohenKappa
from ignite.utils import manual_seed, to_onehot

manual_seed(3)
digits = load_digits()
images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
labels = torch.tensor(digits.target)
train_loader = DataLoader(TensorDataset(images[:640], labels[:640]), batch_size=32, shuffle=True)
val_loader = DataLoader(TensorDataset(images[1400:], labels[1400:]), batch_size=100)
model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
criterion = nn.CrossEntropyLoss()
trainer = create_supervised_trainer(model, optimizer, criterion)

# LR finder as the notebook does, then apply the suggestion
lr_finder = FastaiLRFinder()
with lr_finder.attach(trainer, to_save={"model": model, "optimizer": optimizer}, end_lr=1.0) as finder_trainer:
    finder_trainer.run(train_loader)
print("suggestion", lr_finder.lr_suggestion())
lr_finder.apply_suggested_lr(optimizer)
print("lr", optimizer.param_groups[0]["lr"], "iter after finder", trainer.state.iteration)

ema = EMAHandler(model, momentum=0.01)
ema.attach(trainer, name="ema_momentum", event=Events.ITERATION_COMPLETED)
P, R = Precision(average=False), Recall(average=False)
metrics = {"acc": Accuracy(), "loss": Loss(criterion), "f1": (P * R * 2 / (P + R)).mean(),
           "kappa": CohenKappa(output_transform=lambda o: (o[0].argmax(1), o[1])),
           "report": ClassificationReport(output_dict=True),
           "cm": ConfusionMatrix(10)}
evaluator = create_supervised_evaluator(model, metrics=metrics)
ema_evaluator = create_supervised_evaluator(ema.ema_model, metrics={"acc": Accuracy()})

@trainer.on(Events.EPOCH_COMPLETED)
def validate(engine):
    m = evaluator.run(val_loader).metrics
    e = ema_evaluator.run(val_loader).metrics
    print(engine.state.epoch, round(m["acc"], 6), round(m["loss"], 6), round(float(m["f1"]), 6), m["kappa"],
          m["report"]["macro avg"], int(m["cm"].trace()), e["acc"], engine.state.ema_momentum)

common.setup_common_training_handlers(trainer, to_save={"model": model, "trainer": trainer, "ema": ema.ema_model},
    output_path=str(OUTPUT / "ckpt"), save_every_iters=10, stop_on_nan=True, clear_cuda_cache=True,
    with_pbars=False, n_saved=1)
best = common.gen_save_best_models_by_val_score(DiskSaver(str(OUTPUT / "best"), require_empty=False),
    evaluator, {"model": model, "ema": ema.ema_model}, "acc", n_saved=1, trainer=trainer, tag="val")
tb = common.setup_tb_logging(str(OUTPUT / "tb"), trainer, optimizer, evaluators={"val": evaluator}, log_every_iters=5)
tb.attach(trainer, WeightsScalarHandler(model), Events.EPOCH_COMPLETED)
tb.attach(trainer, GradsScalarHandler(model, reduction=torch.norm), Events.ITERATION_COMPLETED(every=10))
trainer.run(train_loader, max_epochs=2)
tb.close()
print("best", Path(best.last_checkpoint).name, trainer.state.iteration)

# resume: a fresh trainer loads the last checkpoint and runs one epoch more
ckpt = sorted((OUTPUT / "ckpt").iterdir())[-1]
print("ckpt", ckpt.name)
trainer2 = create_supervised_trainer(model, optimizer, criterion)
Checkpoint.load_objects({"model": model, "trainer": trainer2}, torch.load(ckpt, weights_only=True))
print("resumed at", trainer2.state.epoch, trainer2.state.iteration)
trainer2.run(train_loader, max_epochs=3)
print("done", trainer2.state.epoch, trainer2.state.iteration, float(sum(p.sum() for p in model.parameters())))
"""
SCRIPTS = {"common_handlers_pbar_tensorboard": SCRIPT, "lr_finder_ema_and_resume": LR_FINDER_EMA_AND_RESUME}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Any:
    """Both libraries run on one intra-op thread: on a busy 2-core machine two threads make every step slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_script(library: str, folder: Path, script: str = SCRIPT) -> dict[str, Any]:
    """Run ``script`` with ``ignite`` renamed to ``library``; what it printed, wrote and trained."""
    namespace: dict[str, Any] = {"OUTPUT": folder, "__name__": "__main__"}
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        exec(compile(script.replace("ignite", library), f"<{library} script>", "exec"), namespace)
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    checkpoints = {
        name: torch.load(folder / name, weights_only=True) for name in files if name.endswith((".pt", ".pth"))
    }
    for saved in checkpoints.values():
        if "trainer" in saved:  # ignite's engine keys; ember's dict adds its data position (docs/migration.md)
            saved["trainer"] = {key: saved["trainer"][key] for key in IGNITE_ENGINE_STATE_KEYS}
    return {
        "printed": printed.getvalue().splitlines(),
        # the event file's name holds the time and the host: its folder and prefix are compared
        "files": [re.sub(r"(events\.out\.tfevents)\..*", r"\1.*", name) for name in files],
        "checkpoints": checkpoints,
        "scalars": tensorboard_scalars(folder / "tb"),
        "counters": (namespace["trainer"].state.epoch, namespace["trainer"].state.iteration),
        "weights": {name: value.clone() for name, value in namespace["model"].state_dict().items()},
    }


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def assert_same(actual: Any, expected: Any, where: str) -> None:
    """Equal, tensors bit for bit (dtype and shape included)."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and actual.dtype == expected.dtype, where
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), f"{where}: {actual} vs {expected}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, (list, tuple)) and any(isinstance(item, (dict, torch.Tensor)) for item in expected):
        assert len(actual) == len(expected), where
        for index, (one, other) in enumerate(zip(actual, expected, strict=True)):
            assert_same(one, other, f"{where}[{index}]")
    else:
        assert actual == expected, where


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_the_ignite_script_gives_the_same_output_with_ember_imports(name: str, tmp_path: Path) -> None:
    expected = run_script("ignite", tmp_path / "ignite", SCRIPTS[name])
    actual = run_script("ember", tmp_path / "ember", SCRIPTS[name])
    assert expected["printed"][-1].startswith("done 3 ")  # the script ran to its end, 3 epochs
    assert any(tag.startswith(("validation/", "val/")) for tag in expected["scalars"])
    for key in ("printed", "files", "counters", "scalars", "checkpoints", "weights"):
        assert_same(actual[key], expected[key], key)
