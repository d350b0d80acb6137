"""pytorch-ignite 0.5's ``ignite.contrib.handlers`` (a deprecated alias there): the same names from ember.handlers."""

from ember.handlers.clearml_logger import ClearMLLogger
from ember.handlers.loggers import (
    BaseLogger,
    GradsHistHandler,
    GradsScalarHandler,
    MLflowLogger,
    OptimizerParamsHandler,
    OutputHandler,
    TensorboardLogger,
    WeightsHistHandler,
    WeightsScalarHandler,
    global_step_from_engine,
)
from ember.handlers.lr_finder import FastaiLRFinder
from ember.handlers.neptune_logger import NeptuneLogger
from ember.handlers.param_scheduler import (
    ConcatScheduler,
    CosineAnnealingScheduler,
    LinearCyclicalScheduler,
    LRScheduler,
    ParamGroupScheduler,
    PiecewiseLinear,
    create_lr_scheduler_with_warmup,
)
from ember.handlers.polyaxon_logger import PolyaxonLogger
from ember.handlers.profiler import BasicTimeProfiler, HandlersTimeProfiler
from ember.handlers.progress import ProgressBar
from ember.handlers.stores import EpochOutputStore
from ember.handlers.visdom_logger import VisdomLogger
from ember.handlers.wandb_logger import WandBLogger

__all__ = [
    "BaseLogger",
    "BasicTimeProfiler",
    "ClearMLLogger",
    "NeptuneLogger",
    "PolyaxonLogger",
    "VisdomLogger",
    "WandBLogger",
    "ConcatScheduler",
    "CosineAnnealingScheduler",
    "EpochOutputStore",
    "FastaiLRFinder",
    "GradsHistHandler",
    "GradsScalarHandler",
    "HandlersTimeProfiler",
    "LRScheduler",
    "LinearCyclicalScheduler",
    "MLflowLogger",
    "OptimizerParamsHandler",
    "OutputHandler",
    "ParamGroupScheduler",
    "PiecewiseLinear",
    "ProgressBar",
    "TensorboardLogger",
    "WeightsHistHandler",
    "WeightsScalarHandler",
    "create_lr_scheduler_with_warmup",
    "global_step_from_engine",
]
