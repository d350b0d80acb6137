"""ignite's import lines for handlers (ignite.handlers.<module> and the deprecated ignite.contrib.handlers) run on ember."""

from __future__ import annotations

import importlib

import pytest

import ember.handlers

# (module ignite code imports from, with ember in place of ignite) -> names it imports from there
IMPORT_LINES = {
    "ember.handlers.tqdm_logger": ["ProgressBar"],
    "ember.handlers.time_profilers": ["BasicTimeProfiler", "HandlersTimeProfiler"],
    "ember.handlers.param_scheduler": [
        "PiecewiseLinear",
        "LRScheduler",
        "create_lr_scheduler_with_warmup",
        "BatchSizeScheduler",
    ],
    "ember.handlers.early_stopping": ["EarlyStopping"],
    "ember.handlers.terminate_on_nan": ["TerminateOnNan"],
    "ember.handlers.time_limit": ["TimeLimit"],
    "ember.handlers.timing": ["Timer"],
    "ember.handlers.stores": ["EpochOutputStore"],
    "ember.contrib.handlers": ["ProgressBar", "TensorboardLogger", "PiecewiseLinear", "BasicTimeProfiler"],
    "ember.contrib.handlers.tqdm_logger": ["ProgressBar"],
    "ember.contrib.handlers.param_scheduler": ["LinearCyclicalScheduler", "ConcatScheduler"],
    "ember.contrib.handlers.time_profilers": ["HandlersTimeProfiler"],
    "ember.contrib.handlers.tensorboard_logger": ["TensorboardLogger", "OutputHandler"],
    "ember.contrib.handlers.mlflow_logger": ["MLflowLogger"],
    "ember.handlers.state_param_scheduler": [
        "StateParamScheduler",
        "LambdaStateScheduler",
        "PiecewiseLinearStateScheduler",
        "ExpStateScheduler",
        "StepStateScheduler",
        "MultiStepStateScheduler",
    ],
    "ember.handlers.ema_handler": ["EMAHandler"],
    "ember.handlers.lr_finder": ["FastaiLRFinder"],
    "ember.contrib.handlers.lr_finder": ["FastaiLRFinder"],
    "ember.handlers.utils": ["global_step_from_engine"],
}


@pytest.mark.parametrize(("module_name", "names"), sorted(IMPORT_LINES.items()))
def test_each_import_path_gives_the_one_class_of_ember_handlers(module_name: str, names: list[str]) -> None:
    """An alias module holds imports only: each name is the very object ember.handlers exports."""
    module = importlib.import_module(module_name)
    for name in names:
        assert getattr(module, name) is getattr(ember.handlers, name), f"{module_name}.{name}"
