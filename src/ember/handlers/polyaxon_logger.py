"""pytorch-ignite's ``ignite.handlers.polyaxon_logger``; the code is in :mod:`ember.handlers.loggers.polyaxon`."""

from ember.handlers.loggers import global_step_from_engine
from ember.handlers.loggers.polyaxon import OptimizerParamsHandler, OutputHandler, PolyaxonLogger

__all__ = ["OptimizerParamsHandler", "OutputHandler", "PolyaxonLogger", "global_step_from_engine"]
