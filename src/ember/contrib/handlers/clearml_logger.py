"""pytorch-ignite 0.5's ``ignite.contrib.handlers.clearml_logger``."""

from ember.handlers.clearml_logger import (
    ClearMLLogger,
    ClearMLSaver,
    GradsHistHandler,
    GradsScalarHandler,
    OptimizerParamsHandler,
    OutputHandler,
    WeightsHistHandler,
    WeightsScalarHandler,
    global_step_from_engine,
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
