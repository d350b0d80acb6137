"""Experiment loggers: TensorBoard, MLflow, CSV and JSONL files, and PNG curves, with one attach API.

Every logger takes pytorch-ignite's API: ``attach(engine, log_handler, event_name)``,
``attach_output_handler(...)``, ``attach_opt_params_handler(...)``, ``close()`` and ``with``;
the log handlers (:class:`OutputHandler`, :class:`OptimizerParamsHandler`, weights and gradients
handlers) work with any of them. See ``docs/loggers.md``.

The writers come from optional extras, imported only when a logger is created:
``pip install 'ember[tensorboard]'``, ``'ember[mlflow]'``, ``'ember[plot]'`` (matplotlib).
"""

from ember.handlers.loggers.base import (
    BaseHandler,
    BaseLogger,
    GradsHistHandler,
    GradsScalarHandler,
    OptimizerParamsHandler,
    OutputHandler,
    WeightsHistHandler,
    WeightsScalarHandler,
    global_step_from_engine,
)
from ember.handlers.loggers.files import CSVLogger, JSONLLogger, read_history
from ember.handlers.loggers.mlflow import MLflowLogger
from ember.handlers.loggers.plot import CurvesPlotter, plot_history
from ember.handlers.loggers.tensorboard import TensorBoardLogger, TensorboardLogger

__all__ = [
    "BaseHandler",
    "BaseLogger",
    "CSVLogger",
    "CurvesPlotter",
    "GradsHistHandler",
    "GradsScalarHandler",
    "JSONLLogger",
    "MLflowLogger",
    "OptimizerParamsHandler",
    "OutputHandler",
    "TensorBoardLogger",
    "TensorboardLogger",
    "WeightsHistHandler",
    "WeightsScalarHandler",
    "global_step_from_engine",
    "plot_history",
    "read_history",
]
