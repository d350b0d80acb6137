"""Code run in each process of EarlyStopping's 2-process tests (importable, so spawned processes can load it)."""

from __future__ import annotations

import importlib
from typing import Any

import torch

import ember.distributed as idist

# one score per trainer epoch: best at epoch 2, then two evaluations without improvement (patience 2)
SCORES = [0.5, 0.6, 0.6, 0.55, 0.9, 0.4]


def every_rank_evaluates(local_rank: int, library: str) -> dict[str, Any]:
    """ignite's usual wiring, evaluator on every rank, with ember's or ignite's Engine and EarlyStopping."""
    engine_module = importlib.import_module(f"{library}.engine")
    handlers = importlib.import_module(f"{library}.handlers")
    engine_class, events = engine_module.Engine, engine_module.Events

    def step(engine: Any, batch: Any) -> float:
        # one collective per iteration, as DDP has: a rank that stopped alone would leave the other waiting
        return float(idist.all_reduce(torch.tensor([float(batch)])).item())

    trainer = engine_class(step)
    evaluator = engine_class(lambda engine, batch: batch)
    stopper = handlers.EarlyStopping(2, lambda engine: SCORES[trainer.state.epoch - 1], trainer)
    evaluator.add_event_handler(events.COMPLETED, stopper)
    trainer.add_event_handler(events.EPOCH_COMPLETED, lambda: evaluator.run([0, 1]))
    state = trainer.run(range(3), max_epochs=len(SCORES))
    return {"epoch": state.epoch, "iteration": state.iteration, "best": stopper.best_score, "count": stopper.counter}


def rank_zero_evaluates(local_rank: int, sync_timeout: float) -> int:
    """The evaluator runs on rank 0 only, with a DDP model in training: rank 0 raises, naming EarlyStopping."""
    from ember.engine import Engine, Events, create_supervised_trainer
    from ember.handlers import EarlyStopping

    torch.manual_seed(0)
    model = idist.auto_model(torch.nn.Linear(2, 1))
    trainer = create_supervised_trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.mse_loss
    )
    evaluator = Engine(lambda engine, batch: batch)
    evaluator.add_event_handler(
        Events.COMPLETED, EarlyStopping(2, lambda engine: 1.0, trainer, sync_timeout=sync_timeout)
    )

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        if idist.get_rank() == 0:
            evaluator.run([0, 1])

    data = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]
    return trainer.run(data, max_epochs=4).epoch
