"""Weights & Biases: :class:`WandBLogger` and its handlers, with pytorch-ignite's names and results.

Import them as in ignite, from ``ember.handlers.wandb_logger``. Needs wandb: ``pip install 'ember[wandb]'``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer

from ember.engine import Engine
from ember.handlers.loggers._ignite_base import BaseOptimizerParamsHandler, BaseOutputHandler
from ember.handlers.loggers._services import (
    ServiceLogger,
    default_step,
    import_extra,
    parameter_groups,
    require_logger,
)

__all__ = ["OptimizerParamsHandler", "OutputHandler", "WandBLogger"]


class WandBLogger(ServiceLogger):
    """Log to a Weights & Biases run; the logger also stands for the ``wandb`` module itself.

    Args:
        args: passed to ``wandb.init``.
        kwargs: passed to ``wandb.init`` (``project=``, ``name=``, ``config=``, ``mode="offline"`` ...);
            ``init=False`` skips ``wandb.init`` (for a run started elsewhere).

    Any other attribute is the ``wandb`` module's: ``logger.log(...)``, ``logger.watch(model)``,
    ``logger.run.dir`` (a folder whose files are uploaded with the run, e.g. for a
    :class:`~ember.handlers.ModelCheckpoint`). :meth:`close` finishes the run. Values are logged
    with ``wandb.log(values, step=step)``, so a step must not go back: log an evaluator at the
    trainer's iteration (``global_step_from_engine(trainer, Events.ITERATION_COMPLETED)``), as
    :func:`~ember.handlers.logger_utils.setup_wandb_logging` does.

    Example (``WANDB_MODE=offline`` writes the run to ``./wandb`` without an account)::

        logger = WandBLogger(project="mnist", config={"lr": 0.1})
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="training",
                                     output_transform=lambda loss: {"loss": loss})
        logger.attach_opt_params_handler(trainer, Events.ITERATION_STARTED, optimizer=optimizer)
        trainer.run(loader, max_epochs=2)
        logger.close()
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._wandb = import_extra("wandb", "WandBLogger", "wandb")
        if kwargs.pop("init", True):
            self._wandb.init(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # only reached for names the logger lacks: they are the wandb module's, as in ignite
        module = self.__dict__.get("_wandb")
        if module is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}.")
        return getattr(module, name)

    def close(self) -> None:
        """Finish the run (``wandb.finish()``): its data is written out and uploaded (or kept, offline)."""
        self._wandb.finish()

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)


def _warn_sync(sync: bool | None) -> None:
    if sync is not None:
        warnings.warn(
            "sync is ignored: wandb no longer takes it (it is accepted for code written for older wandb).",
            UserWarning,
            stacklevel=3,
        )


class OutputHandler(BaseOutputHandler):
    """Log an engine's metrics, transformed output and state attributes to W&B as ``tag/name``.

    Args:
        tag: the prefix of the names (``"training"``).
        metric_names: names in ``engine.state.metrics`` to log, or ``"all"``.
        output_transform: ``engine.state.output`` -> a number, a tensor or a dict of them.
        global_step_transform: ``(engine, event_name) -> int``; by default the engine's counter of the event.
        sync: ignored (kept for older code), with a warning.
        state_attributes: ``engine.state`` attributes to log.

    Dicts and sequences nest (``tag/name/key``), 1-d tensors give one value per element, and
    strings are logged as text; everything goes in one ``wandb.log(values, step=step)`` call.
    """

    def __init__(
        self,
        tag: str,
        metric_names: str | list[str] | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        sync: bool | None = None,
        state_attributes: list[str] | None = None,
    ) -> None:
        super().__init__(tag, metric_names, output_transform, global_step_transform, state_attributes)
        self.uses_default_step = global_step_transform is None
        _warn_sync(sync)

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`WandBLogger`."""
        require_logger(self, logger, WandBLogger)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            raise TypeError(
                f"global_step_transform must return an int, got {step!r} ({type(step).__name__}) for {event_name!r}."
            )
        logger.log(self._setup_output_metrics_state_attrs(engine, log_text=True, key_tuple=False), step=step)


class OptimizerParamsHandler(BaseOptimizerParamsHandler):
    """Log ``param_name`` (the learning rate by default) of each param group as ``[tag/]lr/group_<i>``.

    The step is the engine's counter of the event. ``sync`` is ignored (kept for older code).
    """

    uses_default_step = True

    def __init__(
        self, optimizer: Optimizer, param_name: str = "lr", tag: str | None = None, sync: bool | None = None
    ) -> None:
        super().__init__(optimizer, param_name, tag)
        _warn_sync(sync)

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`WandBLogger`."""
        require_logger(self, logger, WandBLogger)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        logger.log(parameter_groups(self.optimizer, self.param_name, self.tag), step=default_step(engine, event_name))
