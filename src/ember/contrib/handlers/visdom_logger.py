"""pytorch-ignite 0.5's ``ignite.contrib.handlers.visdom_logger``."""

from ember.handlers.visdom_logger import (
    GradsScalarHandler,
    OptimizerParamsHandler,
    OutputHandler,
    VisdomLogger,
    WeightsScalarHandler,
    global_step_from_engine,
)

__all__ = [
    "GradsScalarHandler",
    "OptimizerParamsHandler",
    "OutputHandler",
    "VisdomLogger",
    "WeightsScalarHandler",
    "global_step_from_engine",
]
