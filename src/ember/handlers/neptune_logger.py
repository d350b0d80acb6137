"""pytorch-ignite's ``ignite.handlers.neptune_logger``; the code is in :mod:`ember.handlers.loggers.neptune`."""

from ember.handlers.loggers import global_step_from_engine
from ember.handlers.loggers.neptune import (
    GradsScalarHandler,
    NeptuneLogger,
    NeptuneSaver,
    OptimizerParamsHandler,
    OutputHandler,
    WeightsScalarHandler,
)

__all__ = [
    "GradsScalarHandler",
    "NeptuneLogger",
    "NeptuneSaver",
    "OptimizerParamsHandler",
    "OutputHandler",
    "WeightsScalarHandler",
    "global_step_from_engine",
]
