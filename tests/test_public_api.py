"""The public names of each package are pinned: adding or dropping one is a deliberate change."""

from __future__ import annotations

import importlib

import pytest

import ember
import ember.data
import ember.distributed
import ember.engine
import ember.handlers
import ember.metrics

EXPECTED = {
    "ember": ["Engine", "Events", "State", "__version__"],
    "ember.data": ["ResumableDataLoader", "ResumableLoader", "ResumableSampler", "derive_seed"],
    "ember.engine": [
        "CallableEventWithFilter",
        "DeterministicEngine",
        "Engine",
        "EvaluationStep",
        "EventEnum",
        "EventFilter",
        "Events",
        "EventsList",
        "FilteredEvent",
        "RemovableEventHandle",
        "State",
        "TrainerEvents",
        "TrainingStep",
        "create_supervised_evaluator",
        "create_supervised_trainer",
        "prepare_batch",
        "supervised_evaluation_step",
        "supervised_evaluation_step_amp",
        "supervised_training_step",
        "supervised_training_step_amp",
    ],
    "ember.engine.deterministic": [
        "DeterministicEngine",
        "ReproducibleBatchSampler",
        "keep_random_state",
        "update_dataloader",
    ],
    "ember.supervised": [
        "EvaluationOptions",
        "EvaluationStep",
        "TrainerEvents",
        "TrainingOptions",
        "TrainingStep",
        "create_supervised_evaluator",
        "create_supervised_trainer",
        "prepare_batch",
        "supervised_evaluation_step",
        "supervised_evaluation_step_amp",
        "supervised_training_step",
        "supervised_training_step_amp",
    ],
    "ember.utils": [
        "apply_to_tensor",
        "apply_to_tensors",
        "apply_to_type",
        "convert_tensor",
        "iter_tensors",
        "manual_seed",
        "setup_logger",
        "to_onehot",
    ],
    "ember.handlers": [
        "BaseHandler",
        "BaseLogger",
        "CSVLogger",
        "CurvesPlotter",
        "GradsHistHandler",
        "GradsScalarHandler",
        "JSONLLogger",
        "OptimizerParamsHandler",
        "OutputHandler",
        "TensorboardLogger",
        "WeightsHistHandler",
        "WeightsScalarHandler",
        "plot_history",
        "read_history",
        "Checkpoint",
        "CorruptCheckpointError",
        "DiskSaver",
        "EarlyStopping",
        "HandlerTime",
        "HandlersProfiler",
        "LRScheduler",
        "MLflowLogger",
        "ModelCheckpoint",
        "PREEMPTED_EXIT_CODE",
        "Patience",
        "PreemptionHandler",
        "Profile",
        "ProgressBar",
        "RNGStates",
        "SaveHandler",
        "TensorBoardLogger",
        "TerminateOnNan",
        "ThroughputMonitor",
        "TimeLimit",
        "Timer",
        "batch_size_of",
        "find_latest_checkpoint",
        "find_non_finite",
        "global_step_from_engine",
        "load_checkpoint",
        "resume_from_latest",
        "verify_checkpoint",
    ],
    "ember.metrics": [
        "Accuracy",
        "Average",
        "BatchFiltered",
        "BatchWise",
        "ConfusionMatrix",
        "DiceCoefficient",
        "EpochWise",
        "Fbeta",
        "GeometricAverage",
        "IoU",
        "JaccardIndex",
        "Loss",
        "MeanAbsoluteError",
        "MeanSquaredError",
        "Metric",
        "MetricUsage",
        "MetricsLambda",
        "NotComputableError",
        "Precision",
        "Recall",
        "RootMeanSquaredError",
        "RunningAverage",
        "RunningBatchWise",
        "RunningEpochWise",
        "SingleEpochRunningBatchWise",
        "TopKCategoricalAccuracy",
        "TorchmetricsMetric",
        "VariableAccumulation",
        "as_metric",
        "attach",
        "cmAccuracy",
        "cmPrecision",
        "cmRecall",
        "is_torchmetrics_metric",
        "mIoU",
    ],
    "ember.metrics.metric": [
        "BatchFiltered",
        "BatchWise",
        "EpochWise",
        "Metric",
        "MetricUsage",
        "MetricsLambda",
        "NotComputableError",
        "RunningBatchWise",
        "RunningEpochWise",
        "SingleEpochRunningBatchWise",
        "reinit__is_reduced",
        "sync_all_reduce",
    ],
    "ember.exceptions": ["NotComputableError"],
    "ember.handlers.loggers": [
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
    ],
    "ember.handlers.tensorboard_logger": [
        "GradsHistHandler",
        "GradsScalarHandler",
        "OptimizerParamsHandler",
        "OutputHandler",
        "TensorboardLogger",
        "WeightsHistHandler",
        "WeightsScalarHandler",
        "global_step_from_engine",
    ],
    "ember.handlers.mlflow_logger": ["MLflowLogger", "OptimizerParamsHandler", "OutputHandler", "global_step_from_engine"],
    "ember.distributed": [
        "DistributedProxySampler",
        "EventSyncCheck",
        "EventsDivergedError",
        "Parallel",
        "RankRaisedError",
        "all_gather",
        "all_gather_tensors_with_shapes",
        "all_reduce",
        "auto_dataloader",
        "auto_model",
        "auto_optim",
        "available_backends",
        "backend",
        "barrier",
        "broadcast",
        "broadcast_object",
        "device",
        "finalize",
        "get_backend",
        "get_local_rank",
        "get_nnodes",
        "get_node_rank",
        "get_nproc_per_node",
        "get_rank",
        "get_world_size",
        "has_hvd_support",
        "has_native_dist_support",
        "has_xla_support",
        "hostname",
        "initialize",
        "is_distributed",
        "model_name",
        "model_strategies",
        "new_group",
        "one_rank_first",
        "one_rank_only",
        "register_model_strategy",
        "set_local_rank",
        "show_config",
        "spawn",
        "sync",
    ],
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(EXPECTED[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names {name}, which the module does not define"


def test_removable_event_handle_module_path() -> None:
    from ember.engine.engine import RemovableEventHandle

    assert RemovableEventHandle is ember.engine.RemovableEventHandle


def test_importing_ember_changes_nothing_global() -> None:
    """No handlers on the root logger, no signal handlers installed by importing ember."""
    import subprocess
    import sys

    script = (
        "import logging, signal\n"
        "before = (len(logging.getLogger().handlers), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))\n"
        "import ember, ember.engine, ember.handlers\n"
        "after = (len(logging.getLogger().handlers), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))\n"
        "assert before == after, (before, after)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
