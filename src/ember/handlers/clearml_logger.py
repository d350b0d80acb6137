"""pytorch-ignite's ``ignite.handlers.clearml_logger``; the code is in :mod:`ember.handlers.loggers.clearml`."""

from ember.handlers.loggers import global_step_from_engine
from ember.handlers.loggers.clearml import (
    ClearMLLogger,
    ClearMLSaver,
    GradsHistHandler,
    GradsScalarHandler,
    OptimizerParamsHandler,
    OutputHandler,
    WeightsHistHandler,
    WeightsScalarHandler,
)

__all__ = [
    "ClearMLLogger",
    "ClearMLSaver",
    "GradsHistHandler",
    "GradsScalarHandler",
    "OptimizerParamsHandler",
    "OutputHandler",
    "WeightsHistHandler",
    "WeightsScalarHandler",
    "global_step_from_engine",
]
