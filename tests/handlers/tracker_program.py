"""One small training program, run the same way on ember and on pytorch-ignite, for the tracker loggers' tests.

``run_program("ember", logger, module)`` and ``run_program("ignite", logger, module)`` make the same
calls with the same seeded model and data; the tests read back what each tracker stored.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def run_program(
    package: str,
    logger: Any,
    module: ModuleType,
    *,
    max_epochs: int = 2,
    extra: Callable[[Any, ModuleType, Any, nn.Module, torch.optim.Optimizer], None] | None = None,
    evaluator_step_event: str = "ITERATION_COMPLETED",
) -> None:
    """Train a seeded linear model for ``max_epochs`` epochs of 3 iterations, logging through ``logger``.

    ``module`` is the logger's module of ``package`` (``ember.handlers.wandb_logger`` ...), whose
    handlers are attached: the trainer's output (a dict with a number and a 1-d tensor) and a state
    attribute every iteration, the learning rate when an iteration starts, and an evaluator's metric
    at the trainer's ``evaluator_step_event`` counter. ``extra(logger, module, trainer, model,
    optimizer)`` attaches more.
    """
    engine_module = importlib.import_module(f"{package}.engine")
    metrics = importlib.import_module(f"{package}.metrics")
    Engine, Events = engine_module.Engine, engine_module.Events
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    data = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(3)]

    def train_step(engine: Any, batch: Any) -> dict[str, Any]:
        x, y = batch
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"loss": loss.item(), "pair": torch.tensor([0.5, float(engine.state.iteration)])}

    def eval_step(engine: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return model(batch[0]), batch[1]

    trainer = Engine(train_step)
    evaluator = Engine(eval_step)
    metrics.MeanSquaredError().attach(evaluator, "mse")

    @trainer.on(Events.STARTED)
    def set_alpha(engine: Any) -> None:
        engine.state.alpha = 0.25

    @trainer.on(Events.EPOCH_COMPLETED)
    def evaluate(engine: Any) -> None:
        evaluator.run(data)

    logger.attach_output_handler(
        trainer,
        event_name=Events.ITERATION_COMPLETED,
        tag="training",
        output_transform=lambda output: output,
        state_attributes=["alpha"],
    )
    logger.attach_opt_params_handler(trainer, event_name=Events.ITERATION_STARTED, optimizer=optimizer)
    logger.attach_output_handler(
        evaluator,
        event_name=Events.COMPLETED,
        tag="validation",
        metric_names=["mse"],
        global_step_transform=module.global_step_from_engine(trainer, getattr(Events, evaluator_step_event)),
    )
    if extra is not None:
        extra(logger, module, trainer, model, optimizer)
    trainer.run(data, max_epochs=max_epochs)
