"""pytorch-ignite's ``ignite.handlers.logger_utils``: one call that builds a logger and attaches the usual handlers.

Each ``setup_*_logging(trainer, optimizers, evaluators, log_every_iters, **logger_kwargs)`` creates the
logger from ``logger_kwargs`` and logs, as ignite does:

- the trainer's metrics (``trainer_metric_names``, all by default) under ``training/`` every
  ``log_every_iters`` iterations;
- each optimizer's learning rate (``lr/group_<i>``, tagged with the optimizer's key when a dict is
  given) at the start of every ``log_every_iters`` iterations;
- each evaluator's metrics (``evaluator_metric_names``) under its key (``validation`` for a single
  evaluator) when it completes, at the trainer's epoch.

The Visdom, Neptune, Weights & Biases, Polyaxon and ClearML (Trains) setups build ignite's loggers of
the same names (``ember.handlers.<name>_logger``) from ``kwargs``; each needs its tracker's package, an
optional extra (``pip install 'ember[wandb]'`` ...) whose absence is an ImportError naming it.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch.optim import Optimizer

from ember.engine import Engine, Events
from ember.handlers.loggers import MLflowLogger, TensorboardLogger, global_step_from_engine

__all__ = [
    "setup_clearml_logging",
    "setup_mlflow_logging",
    "setup_neptune_logging",
    "setup_plx_logging",
    "setup_tb_logging",
    "setup_trains_logging",
    "setup_visdom_logging",
    "setup_wandb_logging",
]

MetricNames = str | Sequence[str] | None
Optimizers = Optimizer | Mapping[Any, Optimizer] | None
Evaluators = Engine | Mapping[str, Engine] | None


def _check_wiring(trainer: Any, optimizers: Any, evaluators: Any, log_every_iters: Any) -> int:
    if not isinstance(trainer, Engine):
        raise TypeError(f"trainer must be an ember Engine, got {type(trainer).__name__}.")
    if optimizers is not None and not isinstance(optimizers, (Optimizer, Mapping)):
        raise TypeError(
            f"optimizers must be an optimizer or a dict of them (keys become tags), got {type(optimizers).__name__}."
        )
    if isinstance(optimizers, Mapping) and not all(isinstance(item, Optimizer) for item in optimizers.values()):
        raise TypeError(f"optimizers must map tags to torch optimizers, got {optimizers!r}.")
    if evaluators is not None and not isinstance(evaluators, (Engine, Mapping)):
        raise TypeError(
            f"evaluators must be an Engine or a dict of them (keys become tags), got {type(evaluators).__name__}."
        )
    if isinstance(evaluators, Mapping) and not all(isinstance(item, Engine) for item in evaluators.values()):
        raise TypeError(f"evaluators must map tags to ember Engines, got {evaluators!r}.")
    if log_every_iters is None:
        return 1  # ignite's spelling of "every iteration"
    if isinstance(log_every_iters, bool) or not isinstance(log_every_iters, int) or log_every_iters < 1:
        raise ValueError(f"log_every_iters must be a whole number >= 1 (or None), got {log_every_iters!r}.")
    return log_every_iters


def _setup_logging(
    logger: Any,
    trainer: Engine,
    optimizers: Optimizers,
    evaluators: Evaluators,
    log_every_iters: int | None,
    *,
    trainer_metric_names: MetricNames = "all",
    evaluator_metric_names: MetricNames = "all",
) -> None:
    """Attach the trainer, optimizer and evaluator handlers to ``logger`` (see the module's description)."""
    every = _check_wiring(trainer, optimizers, evaluators, log_every_iters)
    logger.attach_output_handler(
        trainer, Events.ITERATION_COMPLETED(every=every), tag="training", metric_names=trainer_metric_names
    )
    if optimizers is not None:
        tagged = {None: optimizers} if isinstance(optimizers, Optimizer) else optimizers
        for tag, optimizer in tagged.items():
            logger.attach_opt_params_handler(
                trainer, Events.ITERATION_STARTED(every=every), optimizer, param_name="lr", tag=tag
            )
    if evaluators is not None:
        named = {"validation": evaluators} if isinstance(evaluators, Engine) else evaluators
        # as ignite: Weights & Biases needs a step that only grows, the trainer's iteration
        counter = Events.ITERATION_COMPLETED if type(logger).__name__ == "WandBLogger" else None
        step = global_step_from_engine(trainer, custom_event_name=counter)
        for tag, evaluator in named.items():
            logger.attach_output_handler(
                evaluator, Events.COMPLETED, tag=tag, metric_names=evaluator_metric_names, global_step_transform=step
            )


def setup_tb_logging(
    output_path: str,
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    *,
    trainer_metric_names: MetricNames = "all",
    evaluator_metric_names: MetricNames = "all",
    **kwargs: Any,
) -> TensorboardLogger:
    """A :class:`~ember.handlers.TensorboardLogger` writing to ``output_path``, with the usual handlers attached.

    ``kwargs`` go to the logger. Close the returned logger after the run.

    >>> import tempfile, torch
    >>> from ember.engine import Engine
    >>> trainer = Engine(lambda engine, batch: None)
    >>> evaluator = Engine(lambda engine, batch: None)
    >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> with setup_tb_logging(tempfile.mkdtemp(), trainer, optimizer, evaluator, log_every_iters=1) as logger:
    ...     _ = trainer.run([0, 1])
    """
    _check_wiring(trainer, optimizers, evaluators, log_every_iters)
    logger = TensorboardLogger(log_dir=output_path, **kwargs)
    _setup_logging(
        logger,
        trainer,
        optimizers,
        evaluators,
        log_every_iters,
        trainer_metric_names=trainer_metric_names,
        evaluator_metric_names=evaluator_metric_names,
    )
    return logger


def setup_mlflow_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    *,
    trainer_metric_names: MetricNames = "all",
    evaluator_metric_names: MetricNames = "all",
    **kwargs: Any,
) -> MLflowLogger:
    """An :class:`~ember.handlers.MLflowLogger` (``kwargs`` go to it), with the usual handlers attached."""
    _check_wiring(trainer, optimizers, evaluators, log_every_iters)
    logger = MLflowLogger(**kwargs)
    _setup_logging(
        logger,
        trainer,
        optimizers,
        evaluators,
        log_every_iters,
        trainer_metric_names=trainer_metric_names,
        evaluator_metric_names=evaluator_metric_names,
    )
    return logger


def _setup_tracker(
    logger: str, trainer: Any, optimizers: Any, evaluators: Any, log_every_iters: Any, kwargs: dict[str, Any]
) -> Any:
    """Build ignite's ``logger`` (a tracker's logger, from its ``ember.handlers.<name>_logger`` module) and attach."""
    # imported when a setup asks for it, so that importing logger_utils loads no tracker's module
    logger_class = getattr(importlib.import_module(f"ember.handlers.{_TRACKER_MODULES[logger]}"), logger)
    names = {name: kwargs.pop(name, "all") for name in ("trainer_metric_names", "evaluator_metric_names")}
    _check_wiring(trainer, optimizers, evaluators, log_every_iters)
    logger_object = logger_class(**kwargs)
    _setup_logging(logger_object, trainer, optimizers, evaluators, log_every_iters, **names)
    return logger_object


#: the trackers' loggers and their modules in ember.handlers (ignite's module names)
_TRACKER_MODULES = {
    "VisdomLogger": "visdom_logger",
    "NeptuneLogger": "neptune_logger",
    "WandBLogger": "wandb_logger",
    "PolyaxonLogger": "polyaxon_logger",
    "ClearMLLogger": "clearml_logger",
}


def setup_visdom_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    **kwargs: Any,
) -> Any:
    """A :class:`~ember.handlers.visdom_logger.VisdomLogger` (``kwargs`` go to it), with the usual handlers attached."""
    return _setup_tracker("VisdomLogger", trainer, optimizers, evaluators, log_every_iters, kwargs)


def setup_neptune_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    **kwargs: Any,
) -> Any:
    """A :class:`~ember.handlers.neptune_logger.NeptuneLogger` (``kwargs`` go to it), with the usual handlers."""
    return _setup_tracker("NeptuneLogger", trainer, optimizers, evaluators, log_every_iters, kwargs)


def setup_wandb_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    **kwargs: Any,
) -> Any:
    """A :class:`~ember.handlers.wandb_logger.WandBLogger` (``kwargs`` go to ``wandb.init``), with the usual handlers.

    Evaluators are logged at the trainer's iteration (W&B steps must only grow).
    """
    return _setup_tracker("WandBLogger", trainer, optimizers, evaluators, log_every_iters, kwargs)


def setup_plx_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    **kwargs: Any,
) -> Any:
    """A :class:`~ember.handlers.polyaxon_logger.PolyaxonLogger` (``kwargs`` go to it), with the usual handlers."""
    return _setup_tracker("PolyaxonLogger", trainer, optimizers, evaluators, log_every_iters, kwargs)


def setup_clearml_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    **kwargs: Any,
) -> Any:
    """A :class:`~ember.handlers.clearml_logger.ClearMLLogger` (``kwargs`` go to it), with the usual handlers."""
    return _setup_tracker("ClearMLLogger", trainer, optimizers, evaluators, log_every_iters, kwargs)


def setup_trains_logging(
    trainer: Engine,
    optimizers: Optimizers = None,
    evaluators: Evaluators = None,
    log_every_iters: int | None = 100,
    **kwargs: Any,
) -> Any:
    """ignite's old name of :func:`setup_clearml_logging` (with ignite's warning about the rename)."""
    warnings.warn("setup_trains_logging was renamed to setup_clearml_logging.", UserWarning, stacklevel=2)
    return setup_clearml_logging(trainer, optimizers, evaluators, log_every_iters, **kwargs)
