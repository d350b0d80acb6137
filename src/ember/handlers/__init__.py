"""Handlers for a training run: checkpoints, early stopping, schedules, progress, timing.

Each handler is a plain object with ``attach(engine, ...)``; its ``__call__`` can also be called
directly with an engine, which is how the tests exercise them.
"""

# One import line per handler module; keep them sorted.
from ember.handlers.loggers import BaseLogger, MLflowLogger, TensorBoardLogger, global_step_from_engine
from ember.handlers.profiler import HandlersProfiler, HandlerTime, Profile
from ember.handlers.progress import ProgressBar
from ember.handlers.timing import ThroughputMonitor, Timer, batch_size_of

__all__: list[str] = [
    "BaseLogger",
    "MLflowLogger",
    "TensorBoardLogger",
    "global_step_from_engine",
    "HandlersProfiler",
    "HandlerTime",
    "Profile",
    "ProgressBar",
    "ThroughputMonitor",
    "Timer",
    "batch_size_of",
]
