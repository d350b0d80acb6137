"""Polyaxon: :class:`PolyaxonLogger` and its handlers, with pytorch-ignite's names and results.

Import them as in ignite, from ``ember.handlers.polyaxon_logger``. Needs the Polyaxon client:
``pip install 'ember[polyaxon]'`` (Polyaxon v1/v2: ``polyaxon.tracking.Run``), or for Polyaxon v0
``pip install polyaxon-client`` (``polyaxon_client.tracking.Experiment``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer

from ember.engine import Engine
from ember.handlers.loggers._ignite_base import BaseOptimizerParamsHandler, BaseOutputHandler
from ember.handlers.loggers._services import ServiceLogger, default_step, parameter_groups, require_logger

__all__ = ["OptimizerParamsHandler", "OutputHandler", "PolyaxonLogger"]


def _tracking_class() -> Any:
    """Polyaxon v1/v2's ``Run``, else Polyaxon v0's ``Experiment``; an ImportError naming the extra if neither."""
    try:
        return importlib.import_module("polyaxon.tracking").Run
    except ImportError as error:
        try:
            return importlib.import_module("polyaxon_client.tracking").Experiment
        except ImportError:
            raise ImportError(
                f"PolyaxonLogger needs the Polyaxon client, which is not installed ({error}). Install it with: "
                "pip install 'ember[polyaxon]' (for a Polyaxon v0 server: pip install polyaxon-client)."
            ) from error


class PolyaxonLogger(ServiceLogger):
    """Log metrics to a Polyaxon run (``polyaxon.tracking.Run(*args, **kwargs)``).

    Args:
        args, kwargs: passed to ``polyaxon.tracking.Run`` (or Polyaxon v0's ``Experiment``);
            ``is_offline=True`` keeps the run in local files.

    Each handler call is one ``log_metrics(step=step, **values)``. Any other attribute is the
    run's (``logger.log_inputs(...)``); ``experiment`` is the run. :meth:`close` ends the run.

    Example (inside a Polyaxon job, where the run's context is set)::

        logger = PolyaxonLogger()
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="training",
                                     output_transform=lambda loss: {"loss": loss})
        trainer.run(loader, max_epochs=2)
        logger.close()
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.experiment: Any = _tracking_class()(*args, **kwargs)

    def close(self) -> None:
        """End the run; a failure to end it (a run without a server) is a warning, as it changes no logged value."""
        try:
            self.experiment.end()
        except Exception as error:  # ignite ignores it silently; say it
            warnings.warn(
                f"PolyaxonLogger could not end the run ({type(error).__name__}: {error}); the values logged stay.",
                UserWarning,
                stacklevel=2,
            )

    def __getattr__(self, name: str) -> Any:
        # only reached for names the logger lacks: they are the run's, as in ignite
        experiment = self.__dict__.get("experiment")
        if experiment is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}.")
        return getattr(experiment, name)

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)


class OutputHandler(BaseOutputHandler):
    """Log an engine's metrics, transformed output and state attributes as ``tag/name`` in one ``log_metrics`` call.

    Args:
        tag: the prefix of the names (``"training"``).
        metric_names: names in ``engine.state.metrics`` to log, or ``"all"``.
        output_transform: ``engine.state.output`` -> a number, a tensor or a dict of them.
        global_step_transform: ``(engine, event_name) -> int``; by default the engine's counter of the event.
        state_attributes: ``engine.state`` attributes to log.
    """

    def __init__(
        self,
        tag: str,
        metric_names: str | list[str] | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        state_attributes: list[str] | None = None,
    ) -> None:
        super().__init__(tag, metric_names, output_transform, global_step_transform, state_attributes)
        self.uses_default_step = global_step_transform is None

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`PolyaxonLogger`."""
        require_logger(self, logger, PolyaxonLogger)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        values = self._setup_output_metrics_state_attrs(engine, key_tuple=False)
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            raise TypeError(
                f"global_step_transform must return an int, got {step!r} ({type(step).__name__}) for {event_name!r}."
            )
        values["step"] = step
        logger.log_metrics(**values)


class OptimizerParamsHandler(BaseOptimizerParamsHandler):
    """Log ``param_name`` (the learning rate by default) of each param group as ``[tag/]lr/group_<i>``."""

    uses_default_step = True

    def __init__(self, optimizer: Optimizer, param_name: str = "lr", tag: str | None = None) -> None:
        super().__init__(optimizer, param_name, tag)

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`PolyaxonLogger`."""
        require_logger(self, logger, PolyaxonLogger)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        values: dict[str, Any] = dict(parameter_groups(self.optimizer, self.param_name, self.tag))
        values["step"] = default_step(engine, event_name)
        logger.log_metrics(**values)
