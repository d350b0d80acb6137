"""pytorch-ignite's import path ``ignite.handlers.mlflow_logger``; the code lives in :mod:`ember.handlers.loggers`."""

from ember.handlers.loggers import MLflowLogger, OptimizerParamsHandler, OutputHandler, global_step_from_engine

__all__ = ["MLflowLogger", "OptimizerParamsHandler", "OutputHandler", "global_step_from_engine"]
