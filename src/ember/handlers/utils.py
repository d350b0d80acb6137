"""pytorch-ignite's ``ignite.handlers.utils``: :func:`global_step_from_engine`."""

from ember.handlers.loggers.base import global_step_from_engine

__all__ = ["global_step_from_engine"]
