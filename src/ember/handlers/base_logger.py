"""pytorch-ignite's ``ignite.handlers.base_logger``: the base classes of a logger of your own, written as for ignite."""

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
