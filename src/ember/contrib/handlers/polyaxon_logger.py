"""pytorch-ignite 0.5's ``ignite.contrib.handlers.polyaxon_logger``."""

from ember.handlers.polyaxon_logger import (
    OptimizerParamsHandler,
    OutputHandler,
    PolyaxonLogger,
    global_step_from_engine,
)

__all__ = ["OptimizerParamsHandler", "OutputHandler", "PolyaxonLogger", "global_step_from_engine"]
