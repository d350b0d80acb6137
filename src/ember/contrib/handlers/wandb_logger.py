"""pytorch-ignite 0.5's ``ignite.contrib.handlers.wandb_logger``."""

from ember.handlers.wandb_logger import OptimizerParamsHandler, OutputHandler, WandBLogger, global_step_from_engine

__all__ = ["OptimizerParamsHandler", "OutputHandler", "WandBLogger", "global_step_from_engine"]
