"""ember.contrib.engines.common against ignite.contrib.engines.common: the same training script on both libraries.

The script (a real DataLoader, SGD, a learning-rate schedule, an evaluator with a metric) calls
``setup_common_training_handlers``, ``save_best_model_by_val_score`` and ``add_early_stopping_by_val_score``
exactly as an ignite script does; it runs once on ignite and once on ember, each writing to its own
temporary folder. The files written (names), the weights they hold, the running-average metrics and
learning rate at every iteration, the iteration where early stopping ends the run and the final
weights must be equal.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import sys
import termios
import warnings
from pathlib import Path
from typing import Any

import ignite.contrib.engines.common
import ignite.engine
import ignite.handlers
import ignite.metrics
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import ember.contrib.engines.common
import ember.engine
import ember.handlers
import ember.metrics


def training_script(library: Any, common: Any, folder: Path, schedule: str, patience: int = 2) -> dict[str, Any]:
    Events = library.engine.Events
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train = TensorDataset(torch.randn(40, 4), torch.randn(40, 1))
    loader = DataLoader(train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(2))
    validation = DataLoader(TensorDataset(torch.randn(16, 4), torch.randn(16, 1)), batch_size=8)

    def step(engine: Any, batch: Any) -> dict[str, float]:
        model.train()
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "scaled": 10 * loss.item()}

    def evaluate(engine: Any, batch: Any) -> Any:
        model.eval()
        with torch.no_grad():
            return model(batch[0]), batch[1]

    trainer = library.engine.Engine(step)
    evaluator = library.engine.Engine(evaluate)
    library.metrics.MeanSquaredError().attach(evaluator, "mse")
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run(validation))
    if schedule == "torch":
        scheduler: Any = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
    else:
        scheduler = library.handlers.PiecewiseLinear(optimizer, "lr", [(0, 0.01), (15, 0.2), (40, 0.02)])
    common.setup_common_training_handlers(
        trainer,
        to_save={"model": model, "optimizer": optimizer},
        save_every_iters=7,
        output_path=str(folder / "training"),
        lr_scheduler=scheduler,
        output_names=["loss", "scaled"],
        log_every_iters=5,
        n_saved=2,
    )
    best = common.save_best_model_by_val_score(
        str(folder / "best"), evaluator, model, "mse", n_saved=2, trainer=trainer, score_sign=-1.0
    )
    common.add_early_stopping_by_val_score(patience, evaluator, trainer, "mse", score_sign=-1.0)
    seen: list[Any] = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED,
        lambda engine: seen.append(
            (engine.state.iteration, dict(engine.state.metrics), optimizer.param_groups[0]["lr"])
        ),
    )
    epochs: list[Any] = []
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: epochs.append(dict(evaluator.state.metrics)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.run(loader, max_epochs=12)
    files = {sub: sorted(path.name for path in (folder / sub).iterdir()) for sub in ("training", "best")}
    saved = {
        f"{sub}/{name}": torch.load(folder / sub / name, weights_only=True)
        for sub, names in files.items()
        for name in names
    }
    return {
        "files": files,
        "saved": saved,
        "seen": seen,
        "epochs": epochs,
        "stopped_at": (trainer.state.epoch, trainer.state.iteration),
        "weights": {key: value.clone() for key, value in model.state_dict().items()},
        "best_last": Path(best.last_checkpoint).name,
    }


def assert_same_tensors(got: Any, expected: Any, where: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert torch.equal(got, expected), where
    elif isinstance(expected, dict):
        assert got.keys() == expected.keys(), where
        for key in expected:
            assert_same_tensors(got[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for index, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same_tensors(a, b, f"{where}/{index}")
    else:
        assert got == expected, where


@pytest.mark.parametrize(("schedule", "patience"), [("torch", 2), ("param_scheduler", 1), ("param_scheduler", 20)])
def test_the_same_script_gives_ignites_files_values_and_stop(tmp_path: Path, schedule: str, patience: int) -> None:
    expected = training_script(ignite, ignite.contrib.engines.common, tmp_path / "ignite", schedule, patience)
    got = training_script(ember, ember.contrib.engines.common, tmp_path / "ember", schedule, patience)
    assert got["files"] == expected["files"]
    assert len(got["files"]["training"]) == 2 and len(got["files"]["best"]) == 2
    assert got["best_last"] == expected["best_last"]
    assert_same_tensors(got["saved"], expected["saved"], "saved")
    assert got["stopped_at"] == expected["stopped_at"]
    assert got["epochs"] == expected["epochs"]
    assert got["seen"] == expected["seen"]
    assert_same_tensors(got["weights"], expected["weights"], "weights")


def nan_run(library: Any, common: Any) -> tuple[int, float]:
    trainer = library.engine.Engine(lambda engine, batch: float("nan") if engine.state.iteration == 5 else 1.0)
    common.setup_common_training_handlers(trainer, with_pbars=False)
    state = trainer.run([0] * 4, max_epochs=3)
    return state.iteration, state.epoch


def test_stop_on_nan_stops_where_ignite_stops() -> None:
    assert nan_run(ember, ember.contrib.engines.common) == nan_run(ignite, ignite.contrib.engines.common)


def pbar_output(library: Any, common: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str]:
    """The events and what the bars drew on a real terminal (a pseudo-terminal standing in for stderr)."""
    loader = DataLoader(TensorDataset(torch.arange(12.0)), batch_size=2)
    trainer = library.engine.Engine(lambda engine, batch: {"loss": float(batch[0].sum())})
    events: list[str] = []
    master, replica = os.openpty()
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    with os.fdopen(replica, "w", buffering=1) as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        common.setup_common_training_handlers(trainer, output_names=["loss"], log_every_iters=2)
        for name in ("EPOCH_STARTED", "EPOCH_COMPLETED", "COMPLETED"):
            trainer.add_event_handler(getattr(library.engine.Events, name), lambda e, name=name: events.append(name))
        trainer.run(loader, max_epochs=2)
        terminal.flush()
        monkeypatch.undo()
        drawn = b""
        while select.select([master], [], [], 0.2)[0]:
            drawn += os.read(master, 65536)
    os.close(master)
    return events, drawn.decode(errors="replace")


def test_progress_bars_are_attached_as_ignite_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bars (one per epoch kept, one over iterations with the running loss), drawn on a terminal as ignite's."""
    ember_events, ember_drawn = pbar_output(ember, ember.contrib.engines.common, monkeypatch)
    ignite_events, ignite_drawn = pbar_output(ignite, ignite.contrib.engines.common, monkeypatch)
    assert ember_events == ignite_events
    for drawn in (ember_drawn, ignite_drawn):
        assert "loss=" in drawn and "Epoch" in drawn, drawn


def test_distributed_sampler_in_one_process_warns_as_ignite() -> None:
    data = list(range(8))
    sampler = torch.utils.data.DistributedSampler(data, num_replicas=1, rank=0)
    for library, common in ((ember, ember.contrib.engines.common), (ignite, ignite.contrib.engines.common)):
        trainer = library.engine.Engine(lambda engine, batch: None)
        with pytest.warns(UserWarning, match="(?i)distributed sampler|DistributedSampler"):
            common.setup_common_training_handlers(trainer, train_sampler=sampler, with_pbars=False)
    assert ember.contrib.engines.common.setup_common_distrib_training_handlers is (
        ember.contrib.engines.common.setup_common_training_handlers
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"to_save": {"m": torch.nn.Linear(1, 1)}}, ValueError, "not where to save it"),
        ({"output_path": "a", "save_handler": lambda c, f: None}, ValueError, "pass one of them"),
        ({"save_every_iters": 0}, ValueError, "save_every_iters must be"),
        ({"log_every_iters": -1}, ValueError, "log_every_iters must be"),
    ],
)
def test_bad_arguments_are_refused_when_wired(kwargs: dict[str, Any], error: type, message: str) -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    with pytest.raises(error, match=message):
        ember.contrib.engines.common.setup_common_training_handlers(trainer, **kwargs)
    with pytest.raises(TypeError, match="trainer must be an ember Engine"):
        ember.contrib.engines.common.setup_common_training_handlers(object())  # type: ignore[arg-type]


def test_gpu_stats_and_setup_any_logging_are_refused_when_wired() -> None:
    trainer = ember.engine.Engine(lambda engine, batch: None)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="GpuInfo reports NVIDIA GPUs"):
            ember.contrib.engines.common.setup_common_training_handlers(trainer, with_gpu_stats=True)
    args = (None, None, trainer, None, None, 100)
    with pytest.raises(DeprecationWarning):
        ignite.contrib.engines.common.setup_any_logging(*args)
    with pytest.raises(DeprecationWarning, match="setup_tb_logging"):
        ember.contrib.engines.common.setup_any_logging(*args)


def test_empty_cuda_cache_and_the_logging_helpers_paths() -> None:
    """empty_cuda_cache runs as a handler (a no-op for CUDA without a GPU); common re-exports logger_utils' functions."""
    import ember.handlers.logger_utils

    trainer = ember.engine.Engine(lambda engine, batch: None)
    trainer.add_event_handler(ember.engine.Events.EPOCH_COMPLETED, ember.contrib.engines.common.empty_cuda_cache)
    trainer.run([0, 1], max_epochs=2)
    for name in ember.handlers.logger_utils.__all__:
        assert getattr(ember.contrib.engines.common, name) is getattr(ember.handlers.logger_utils, name)
        assert hasattr(ignite.contrib.engines.common, name)
