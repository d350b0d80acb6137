"""pytorch-ignite's import path ``ignite.handlers.wandb_logger``; the code is in :mod:`ember.handlers.loggers.wandb`."""

from ember.handlers.loggers import global_step_from_engine
from ember.handlers.loggers.wandb import OptimizerParamsHandler, OutputHandler, WandBLogger

__all__ = ["OptimizerParamsHandler", "OutputHandler", "WandBLogger", "global_step_from_engine"]
