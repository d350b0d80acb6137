"""pytorch-ignite's ``ignite.handlers.visdom_logger``; the code is in :mod:`ember.handlers.loggers.visdom`."""

from ember.handlers.loggers import global_step_from_engine
from ember.handlers.loggers.visdom import (
    GradsScalarHandler,
    OptimizerParamsHandler,
    OutputHandler,
    VisdomLogger,
    WeightsScalarHandler,
)

__all__ = [
    "GradsScalarHandler",
    "OptimizerParamsHandler",
    "OutputHandler",
    "VisdomLogger",
    "WeightsScalarHandler",
    "global_step_from_engine",
]
