"""Supervised training and evaluation: the step functions and the factories that assemble them.

The names and positional arguments are pytorch-ignite's (``ignite.engine``); ``ember.engine`` re-exports
them, so ``from ember.engine import create_supervised_trainer`` works as ignite's import line does.
ember's own options (clipping, bfloat16, no-grad mode, ...) are keyword-only, after ignite's arguments,
and are declared once, in :class:`TrainingOptions` and :class:`EvaluationOptions`.

A *step* is a process function ``step(engine, batch) -> output``: ``Engine(supervised_training_step(...))``
is a complete trainer. On its first call (or earlier, with ``step.attach(engine)``) a step adds the few
handlers it needs to its engine: switching the model's mode when the run starts, stepping a partial gradient
accumulation at the end of an epoch, counting optimizer steps. A step refers to its engine weakly, so
an engine built from a step is freed as soon as the last reference to it goes, like any other engine.

>>> import torch
>>> from torch import nn
>>> model = nn.Linear(4, 2)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
>>> trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss(), gradient_accumulation_steps=2)
>>> data = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(5)]
>>> state = trainer.run(data, max_epochs=2)
>>> state.iteration, state.optimizer_step  # 5 batches per epoch: steps after batches 2, 4 and 5
(10, 6)
"""

from __future__ import annotations

from ember.supervised.common import EvaluationOptions, TrainerEvents, TrainingOptions, prepare_batch
from ember.supervised.evaluation import (
    EvaluationStep,
    create_supervised_evaluator,
    supervised_evaluation_step,
    supervised_evaluation_step_amp,
)
from ember.supervised.training import (
    TrainingStep,
    create_supervised_trainer,
    supervised_training_step,
    supervised_training_step_amp,
)

__all__ = [
    "EvaluationOptions",
    "EvaluationStep",
    "TrainerEvents",
    "TrainingOptions",
    "TrainingStep",
    "create_supervised_evaluator",
    "create_supervised_trainer",
    "prepare_batch",
    "supervised_evaluation_step",
    "supervised_evaluation_step_amp",
    "supervised_training_step",
    "supervised_training_step_amp",
]
