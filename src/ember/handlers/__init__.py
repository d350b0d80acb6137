"""Handlers for a training run: checkpoints, early stopping, schedules, progress, timing.

Each handler is a plain object with ``attach(engine, ...)``; its ``__call__`` can also be called
directly with an engine, which is how the tests exercise them.
"""

# One import line per handler module; keep them sorted.
from ember.handlers.loggers import BaseLogger, MLflowLogger, TensorBoardLogger, global_step_from_engine

__all__: list[str] = [
    "BaseLogger",
    "MLflowLogger",
    "TensorBoardLogger",
    "global_step_from_engine",
]
