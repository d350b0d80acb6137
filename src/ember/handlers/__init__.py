"""Handlers for a training run: checkpoints, early stopping, schedules, progress, timing.

Each handler is a plain object with ``attach(engine, ...)``; its ``__call__`` can also be called
directly with an engine, which is how the tests exercise them.
"""

# One import line per handler module; keep them sorted.
from ember.handlers.checkpoint import (
    BaseSaveHandler,
    Checkpoint,
    CheckpointEvents,
    CorruptCheckpointError,
    DiskSaver,
    ModelCheckpoint,
    RNGStates,
    SaveHandler,
    find_latest_checkpoint,
    load_checkpoint,
    resume_from_latest,
    verify_checkpoint,
)
from ember.handlers.clearml_logger import ClearMLLogger
from ember.handlers.early_stopping import EarlyStopping, Patience
from ember.handlers.ema_handler import EMAHandler
from ember.handlers.event_sync import EventsDivergedError, EventSyncCheck
from ember.handlers.fbresearch_logger import FBResearchLogger
from ember.handlers.loggers import (
    BaseHandler,
    BaseLogger,
    CSVLogger,
    CurvesPlotter,
    GradsHistHandler,
    GradsScalarHandler,
    JSONLLogger,
    MLflowLogger,
    OptimizerParamsHandler,
    OutputHandler,
    TensorBoardLogger,
    TensorboardLogger,
    WeightsHistHandler,
    WeightsScalarHandler,
    global_step_from_engine,
    plot_history,
    read_history,
)
from ember.handlers.lr_finder import FastaiLRFinder
from ember.handlers.lr_scheduler import LRScheduler
from ember.handlers.neptune_logger import NeptuneLogger
from ember.handlers.param_scheduler import (
    BaseParamScheduler,
    BatchSizeScheduler,
    ConcatScheduler,
    CosineAnnealingScheduler,
    CyclicalScheduler,
    LinearCyclicalScheduler,
    ParamGroupScheduler,
    ParamScheduler,
    PiecewiseLinear,
    ReduceLROnPlateauScheduler,
    create_lr_scheduler_with_warmup,
)
from ember.handlers.polyaxon_logger import PolyaxonLogger
from ember.handlers.preemption import PREEMPTED_EXIT_CODE, PreemptionHandler
from ember.handlers.profiler import BasicTimeProfiler, HandlersProfiler, HandlersTimeProfiler, HandlerTime, Profile
from ember.handlers.progress import ProgressBar
from ember.handlers.sharded_checkpoint import (
    ShardedSaver,
    dcp_to_torch_save,
    find_latest_sharded_checkpoint,
    load_sharded_checkpoint,
    resume_from_latest_sharded,
    verify_sharded_checkpoint,
)
from ember.handlers.state_param_scheduler import (
    ExpStateScheduler,
    LambdaStateScheduler,
    MultiStepStateScheduler,
    PiecewiseLinearStateScheduler,
    StateParamScheduler,
    StepStateScheduler,
)
from ember.handlers.stores import EpochOutputStore
from ember.handlers.terminate_on_nan import TerminateOnNan, find_non_finite
from ember.handlers.time_limit import TimeLimit
from ember.handlers.timing import ThroughputMonitor, Timer, batch_size_of
from ember.handlers.visdom_logger import VisdomLogger
from ember.handlers.wandb_logger import WandBLogger

__all__: list[str] = [
    "BaseSaveHandler",
    "Checkpoint",
    "CheckpointEvents",
    "CorruptCheckpointError",
    "DiskSaver",
    "ModelCheckpoint",
    "RNGStates",
    "SaveHandler",
    "ShardedSaver",
    "dcp_to_torch_save",
    "find_latest_sharded_checkpoint",
    "load_sharded_checkpoint",
    "resume_from_latest_sharded",
    "verify_sharded_checkpoint",
    "find_latest_checkpoint",
    "load_checkpoint",
    "resume_from_latest",
    "verify_checkpoint",
    "PREEMPTED_EXIT_CODE",
    "PreemptionHandler",
    "EarlyStopping",
    "EMAHandler",
    "FastaiLRFinder",
    "Patience",
    "EventSyncCheck",
    "EventsDivergedError",
    "LRScheduler",
    "BaseParamScheduler",
    "BatchSizeScheduler",
    "ExpStateScheduler",
    "LambdaStateScheduler",
    "MultiStepStateScheduler",
    "PiecewiseLinearStateScheduler",
    "StateParamScheduler",
    "StepStateScheduler",
    "ConcatScheduler",
    "CosineAnnealingScheduler",
    "CyclicalScheduler",
    "LinearCyclicalScheduler",
    "ParamGroupScheduler",
    "ParamScheduler",
    "PiecewiseLinear",
    "ReduceLROnPlateauScheduler",
    "create_lr_scheduler_with_warmup",
    "TerminateOnNan",
    "find_non_finite",
    "TimeLimit",
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
    "FBResearchLogger",
    "WandBLogger",
    "VisdomLogger",
    "ClearMLLogger",
    "NeptuneLogger",
    "PolyaxonLogger",
    "BasicTimeProfiler",
    "HandlersProfiler",
    "HandlersTimeProfiler",
    "HandlerTime",
    "Profile",
    "ProgressBar",
    "EpochOutputStore",
    "ThroughputMonitor",
    "Timer",
    "batch_size_of",
]
