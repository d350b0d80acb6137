"""Whole training programs, written once the way pytorch-ignite's docs teach, run on ignite and on ember.

Each program is a function of a :class:`Library` (ignite's modules or ember's, the same names) and a
folder; it trains a small classifier on scikit-learn's digits with the same seed and returns a
record: the lines it prints (metric values per epoch), the engines' counters, the files it wrote and
the final weights. The expected record is ignite's, never a value written here; the test asserts
that ember's record is the same, weights bit for bit.

A program that ember cannot run like ignite yet is marked ``xfail(strict=True)`` with the difference
named, so that the mark must go when the difference is fixed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("sklearn", reason="the programs train on scikit-learn's digits")


@dataclass(frozen=True)
class Library:
    """The modules a program imports, from ``ignite`` or from ``ember``."""

    name: str
    engine: ModuleType
    metrics: ModuleType
    handlers: ModuleType
    utils: ModuleType


def library(name: str) -> Library:
    def load(module: str) -> ModuleType:
        return importlib.import_module(f"{name}.{module}")

    return Library(name, load("engine"), load("metrics"), load("handlers"), load("utils"))


@dataclass
class Record:
    """What a program shows of its run: compared field by field between the libraries."""

    printed: list[str]  # metric values with 4 decimals, as a program prints them
    values: list[float]  # the same values unrounded: equal up to float rounding
    counters: dict[str, Any]
    files: list[str]
    weights: dict[str, torch.Tensor]


class Log:
    """What a program prints: ``log(text, *values)`` keeps the line and the unrounded values in it."""

    def __init__(self) -> None:
        self.printed: list[str] = []
        self.values: list[float] = []

    def __call__(self, text: str, *values: Any) -> None:
        self.printed.append(text)
        self.values.extend(float(value) for value in values)


def digits_loaders(train_size: int = 256, validation_size: int = 128, batch_size: int = 32) -> tuple[Any, Any]:
    """Training (shuffled) and validation loaders over a fixed split of the digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    train = order[:train_size]
    validation = order[train_size : train_size + validation_size]
    train_loader = DataLoader(TensorDataset(images[train], labels[train]), batch_size=batch_size, shuffle=True)
    validation_loader = DataLoader(TensorDataset(images[validation], labels[validation]), batch_size=batch_size)
    return train_loader, validation_loader


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------- programs


def one_evaluator_on_both_loaders(lib: Library, folder: Path) -> Record:
    """ignite's MNIST example: one evaluator run on the training loader, then on the validation loader, each
    epoch; the loss printed every few iterations; the best model kept by ModelCheckpoint."""
    Events = lib.engine.Events
    lib.utils.manual_seed(0)
    train_loader, validation_loader = digits_loaders()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    trainer = lib.engine.create_supervised_trainer(model, optimizer, criterion)
    evaluator = lib.engine.create_supervised_evaluator(
        model, metrics={"accuracy": lib.metrics.Accuracy(), "nll": lib.metrics.Loss(criterion)}
    )
    log = Log()

    @trainer.on(Events.ITERATION_COMPLETED(every=5))
    def log_training_loss(engine: Any) -> None:
        state = engine.state
        log(f"Epoch[{state.epoch}] Iteration[{state.iteration}] Loss: {state.output:.4f}", state.output)

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_training_results(engine: Any) -> None:
        evaluator.run(train_loader)
        metrics = evaluator.state.metrics
        log(
            f"Training Results - Epoch: {engine.state.epoch} Avg accuracy: {metrics['accuracy']:.4f} "
            f"Avg loss: {metrics['nll']:.4f}",
            metrics["accuracy"],
            metrics["nll"],
        )

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_validation_results(engine: Any) -> None:
        evaluator.run(validation_loader)
        metrics = evaluator.state.metrics
        log(
            f"Validation Results - Epoch: {engine.state.epoch} Avg accuracy: {metrics['accuracy']:.4f} "
            f"Avg loss: {metrics['nll']:.4f}",
            metrics["accuracy"],
            metrics["nll"],
        )

    checkpoint = lib.handlers.ModelCheckpoint(
        folder,
        n_saved=2,
        filename_prefix="best",
        score_function=lambda engine: engine.state.metrics["accuracy"],
        score_name="accuracy",
        global_step_transform=lib.handlers.global_step_from_engine(trainer),
    )
    evaluator.add_event_handler(Events.COMPLETED, checkpoint, {"model": model})
    trainer.run(train_loader, max_epochs=4)
    counters = {
        "trainer": (trainer.state.epoch, trainer.state.iteration),
        "evaluator": (evaluator.state.epoch, evaluator.state.iteration, evaluator.state.epoch_length),
    }
    return Record(log.printed, log.values, counters, files_under(folder), weights_of(model))


def two_evaluators_early_stopping_and_checkpoints(lib: Library, folder: Path) -> Record:
    """ignite's quickstart: a train evaluator and a validation evaluator, EarlyStopping on the validation
    loss, ModelCheckpoint of the best model by accuracy, and a Checkpoint of the training state each epoch."""
    Events = lib.engine.Events
    lib.utils.manual_seed(1)
    train_loader, validation_loader = digits_loaders()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)  # too fast: it stops early
    criterion = nn.CrossEntropyLoss()
    trainer = lib.engine.create_supervised_trainer(model, optimizer, criterion)

    def evaluator() -> Any:
        metrics = {"accuracy": lib.metrics.Accuracy(), "loss": lib.metrics.Loss(criterion)}
        return lib.engine.create_supervised_evaluator(model, metrics=metrics)

    train_evaluator, validation_evaluator = evaluator(), evaluator()
    log = Log()

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_results(engine: Any) -> None:
        for name, (runner, loader) in {
            "train": (train_evaluator, train_loader),
            "validation": (validation_evaluator, validation_loader),
        }.items():
            metrics = runner.run(loader).metrics
            accuracy, loss = metrics["accuracy"], metrics["loss"]
            log(f"{name} epoch {engine.state.epoch}: {accuracy:.4f} {loss:.4f}", accuracy, loss)

    def score(engine: Any) -> float:
        return -float(engine.state.metrics["loss"])

    stopper = lib.handlers.EarlyStopping(patience=2, score_function=score, trainer=trainer)
    validation_evaluator.add_event_handler(Events.COMPLETED, stopper)
    best = lib.handlers.ModelCheckpoint(
        folder / "best",
        n_saved=1,
        filename_prefix="best",
        score_function=lambda engine: engine.state.metrics["accuracy"],
        score_name="val_acc",
        global_step_transform=lib.handlers.global_step_from_engine(trainer),
    )
    validation_evaluator.add_event_handler(Events.COMPLETED, best, {"model": model})
    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer}
    state_checkpoint = lib.handlers.Checkpoint(to_save, lib.handlers.DiskSaver(folder / "last"), n_saved=2)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, state_checkpoint)
    trainer.run(train_loader, max_epochs=20)
    log("best score", stopper.best_score)
    counters = {
        "trainer": (trainer.state.epoch, trainer.state.iteration),
        "stopper": stopper.counter,
        "last_checkpoint": state_checkpoint.last_checkpoint is not None,
    }
    return Record(log.printed, log.values, counters, files_under(folder), weights_of(model))


def schedulers_and_running_average(lib: Library, folder: Path) -> Record:
    """A learning rate warm-up then cosine (ParamScheduler), a torch StepLR through LRScheduler on a second
    optimizer group, and the loss smoothed by RunningAverage, printed per epoch."""
    Events = lib.engine.Events
    lib.utils.manual_seed(2)
    train_loader, _ = digits_loaders()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    trainer = lib.engine.create_supervised_trainer(model, optimizer, criterion)
    lib.metrics.RunningAverage(output_transform=lambda loss: loss, alpha=0.9).attach(trainer, "running_loss")
    cosine = lib.handlers.CosineAnnealingScheduler(optimizer, "lr", start_value=0.2, end_value=0.01, cycle_size=16)
    scheduler = lib.handlers.ConcatScheduler(
        [lib.handlers.LinearCyclicalScheduler(optimizer, "lr", 0.0, 0.2, cycle_size=8), cosine], durations=[4]
    )
    trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
    momentum = lib.handlers.PiecewiseLinear(optimizer, "momentum", milestones_values=[(0, 0.0), (20, 0.9)])
    trainer.add_event_handler(Events.ITERATION_STARTED, momentum)
    log = Log()
    learning_rates: list[float] = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def record_lr(engine: Any) -> None:
        group = optimizer.param_groups[0]
        learning_rates.append(round(group["lr"], 10))
        learning_rates.append(round(group["momentum"], 10))

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_epoch(engine: Any) -> None:
        running_loss = engine.state.metrics["running_loss"]
        log(f"epoch {engine.state.epoch} running loss {running_loss:.4f}", running_loss)

    trainer.run(train_loader, max_epochs=4)
    step_model = make_model()
    step_optimizer = torch.optim.SGD(step_model.parameters(), lr=0.1)
    step_trainer = lib.engine.create_supervised_trainer(step_model, step_optimizer, criterion)
    step_lr = lib.handlers.LRScheduler(torch.optim.lr_scheduler.StepLR(step_optimizer, step_size=3, gamma=0.5))
    step_trainer.add_event_handler(Events.ITERATION_COMPLETED, step_lr)
    step_rates: list[float] = []
    step_trainer.add_event_handler(
        Events.ITERATION_STARTED, lambda engine: step_rates.append(step_optimizer.param_groups[0]["lr"])
    )
    step_trainer.run(train_loader, max_epochs=2)
    counters = {"learning_rates": learning_rates, "step_rates": step_rates}
    weights = {**weights_of(model), **{f"step.{key}": value for key, value in weights_of(step_model).items()}}
    return Record(log.printed, log.values, counters, files_under(folder), weights)


def custom_events_timer_and_terminate(lib: Library, folder: Path) -> Record:
    """A hand-written process function firing custom events (counted with event_to_attr), filtered events,
    a Timer, and terminate() in the middle of an epoch."""
    Events, EventEnum = lib.engine.Events, lib.engine.EventEnum

    class BackpropEvents(EventEnum):  # type: ignore[misc, valid-type]
        BACKWARD_STARTED = "backward_started"
        BACKWARD_COMPLETED = "backward_completed"
        OPTIM_STEP_COMPLETED = "optim_step_completed"

    lib.utils.manual_seed(3)
    train_loader, validation_loader = digits_loaders()
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()

    last_loss = [0.0]

    def update(engine: Any, batch: Any) -> float:
        model.train()
        optimizer.zero_grad()
        x, y = batch
        loss = criterion(model(x), y)
        engine.fire_event(BackpropEvents.BACKWARD_STARTED)
        loss.backward()
        engine.fire_event(BackpropEvents.BACKWARD_COMPLETED)
        optimizer.step()
        engine.state.optim_step += 1  # the counter named in event_to_attr is the program's to advance
        engine.fire_event(BackpropEvents.OPTIM_STEP_COMPLETED)
        last_loss[0] = float(loss.item())
        return last_loss[0]

    trainer = lib.engine.Engine(update)
    trainer.register_events(*BackpropEvents, event_to_attr={BackpropEvents.OPTIM_STEP_COMPLETED: "optim_step"})
    log = Log()
    counts = {"backward_started": 0, "every_3": 0}

    @trainer.on(BackpropEvents.BACKWARD_STARTED)
    def count_backward(engine: Any) -> None:
        counts["backward_started"] += 1

    @trainer.on(BackpropEvents.OPTIM_STEP_COMPLETED(every=3))
    def every_third_step(engine: Any) -> None:
        counts["every_3"] += 1
        log(f"step {engine.state.optim_step} loss {last_loss[0]:.4f}", last_loss[0])

    @trainer.on(Events.EPOCH_COMPLETED(every=2) | Events.COMPLETED)
    def log_epoch(engine: Any) -> None:
        log(f"epoch {engine.state.epoch} iteration {engine.state.iteration}")

    @trainer.on(Events.ITERATION_COMPLETED(once=21))
    def stop(engine: Any) -> None:
        log(f"terminating at {engine.state.iteration}")
        engine.terminate()

    timer = lib.handlers.Timer(average=True)
    timer.attach(
        trainer,
        start=Events.EPOCH_STARTED,
        resume=Events.ITERATION_STARTED,
        pause=Events.ITERATION_COMPLETED,
        step=Events.ITERATION_COMPLETED,
    )
    trainer.run(train_loader, max_epochs=5)
    evaluator = lib.engine.create_supervised_evaluator(model, metrics={"accuracy": lib.metrics.Accuracy()})
    accuracy = evaluator.run(validation_loader).metrics["accuracy"]
    log(f"validation accuracy {accuracy:.4f}", accuracy)
    counters = {
        "trainer": (trainer.state.epoch, trainer.state.iteration, trainer.state.optim_step),
        "counts": counts,
        "timer_steps": timer.step_count,
        "timer_positive": timer.value() > 0,
    }
    return Record(log.printed, log.values, counters, files_under(folder), weights_of(model))


def resume_from_a_checkpoint(lib: Library, folder: Path) -> Record:
    """Checkpoint of trainer, model, optimizer and scheduler each epoch; a second script loads the newest
    file with Checkpoint.load_objects and runs the trainer on to its end."""
    Events = lib.engine.Events

    def setup() -> tuple[Any, nn.Module, Any, dict[str, Any]]:
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        trainer = lib.engine.create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
        scheduler = lib.handlers.LRScheduler(torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8))
        trainer.add_event_handler(Events.EPOCH_COMPLETED, scheduler)
        to_save = {"trainer": trainer, "model": model, "optimizer": optimizer, "lr_scheduler": scheduler}
        return trainer, model, optimizer, to_save

    lib.utils.manual_seed(4)
    train_loader, _ = digits_loaders()
    trainer, _, _, to_save = setup()
    checkpoint = lib.handlers.Checkpoint(to_save, lib.handlers.DiskSaver(folder, require_empty=False), n_saved=None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, checkpoint)
    trainer.add_event_handler(Events.EPOCH_COMPLETED(once=2), lambda engine: engine.terminate())
    trainer.run(train_loader, max_epochs=4)
    first = (trainer.state.epoch, trainer.state.iteration)

    trainer, model, optimizer, to_save = setup()
    log = Log()

    @trainer.on(Events.EPOCH_COMPLETED)
    def log_epoch(engine: Any) -> None:
        loss, lr = engine.state.output, optimizer.param_groups[0]["lr"]
        log(f"epoch {engine.state.epoch} loss {loss:.4f} lr {lr:.4f}", loss, lr)

    newest = (
        folder / checkpoint.last_checkpoint
        if not Path(checkpoint.last_checkpoint).is_absolute()
        else Path(checkpoint.last_checkpoint)
    )
    lib.handlers.Checkpoint.load_objects(to_load=to_save, checkpoint=torch.load(newest, weights_only=True))
    trainer.run(train_loader, max_epochs=4)
    counters = {"first": first, "resumed": (trainer.state.epoch, trainer.state.iteration)}
    return Record(log.printed, log.values, counters, files_under(folder), weights_of(model))


def record_lr(optimizer: torch.optim.Optimizer, rates: dict[str, list[float]], key: str) -> Callable[[], None]:
    """A handler that appends the first group's learning rate to ``rates[key]``."""
    seen = rates[key] = []

    def record() -> None:
        seen.append(round(optimizer.param_groups[0]["lr"], 10))

    return record


def exponential_lr_with_and_without_warm_up(lib: Library, folder: Path) -> Record:
    """ignite's docs for LRScheduler and create_lr_scheduler_with_warmup, with torch's ExponentialLR: the
    learning rate of every iteration, and the weights it trains."""
    Events = lib.engine.Events
    lib.utils.manual_seed(5)
    train_loader, _ = digits_loaders()
    log = Log()
    rates: dict[str, list[float]] = {}
    weights: dict[str, torch.Tensor] = {}
    for warm_up in (False, True):
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        trainer = lib.engine.create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
        torch_lr_scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer=optimizer, gamma=0.98)
        if warm_up:
            scheduler = lib.handlers.create_lr_scheduler_with_warmup(
                torch_lr_scheduler, warmup_start_value=0.0, warmup_end_value=0.1, warmup_duration=3
            )
        else:
            scheduler = lib.handlers.LRScheduler(torch_lr_scheduler)
        trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, record_lr(optimizer, rates, f"warm_up={warm_up}"))
        trainer.run(train_loader, max_epochs=2)
        log(f"warm_up={warm_up} loss {trainer.state.output:.4f}", trainer.state.output)
        weights.update({f"warm_up={warm_up}.{key}": value for key, value in weights_of(model).items()})
    return Record(log.printed, log.values, rates, files_under(folder), weights)


# ---------------------------------------------------------------------------------------------- the test

Program = Callable[[Library, Path], Record]

PROGRAMS: list[Any] = [
    pytest.param(one_evaluator_on_both_loaders, id="one evaluator on both loaders"),
    pytest.param(two_evaluators_early_stopping_and_checkpoints, id="two evaluators, early stopping, checkpoints"),
    pytest.param(schedulers_and_running_average, id="schedulers and RunningAverage"),
    pytest.param(custom_events_timer_and_terminate, id="custom events, Timer, terminate"),
    pytest.param(resume_from_a_checkpoint, id="resume from a checkpoint"),
    pytest.param(exponential_lr_with_and_without_warm_up, id="ExponentialLR with and without warm-up"),
]


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_program_gives_ignites_results(program: Program, tmp_path: Path) -> None:
    expected = program(library("ignite"), tmp_path / "ignite")
    got = program(library("ember"), tmp_path / "ember")
    assert got.printed == expected.printed
    assert got.values == pytest.approx(expected.values, rel=1e-6)
    assert got.counters == expected.counters
    assert got.files == expected.files
    assert got.weights.keys() == expected.weights.keys()
    different = [name for name in expected.weights if not torch.equal(got.weights[name], expected.weights[name])]
    assert different == [], f"weights differ from ignite's: {different}"
