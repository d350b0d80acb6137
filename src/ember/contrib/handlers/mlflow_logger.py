"""pytorch-ignite 0.5's ``ignite.contrib.handlers.mlflow_logger``."""

from ember.handlers.mlflow_logger import MLflowLogger, OptimizerParamsHandler, OutputHandler, global_step_from_engine

__all__ = ["MLflowLogger", "OptimizerParamsHandler", "OutputHandler", "global_step_from_engine"]
