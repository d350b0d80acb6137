"""pytorch-ignite's ``ignite.contrib.handlers.base_logger`` (a deprecated alias there): a logger's base classes."""

from ember.handlers.loggers._ignite_base import (
    BaseHandler,
    BaseLogger,
    BaseOptimizerParamsHandler,
    BaseOutputHandler,
    BaseWeightsHandler,
    BaseWeightsScalarHandler,
)

__all__ = [
    "BaseHandler",
    "BaseLogger",
    "BaseOptimizerParamsHandler",
    "BaseOutputHandler",
    "BaseWeightsHandler",
    "BaseWeightsScalarHandler",
]
