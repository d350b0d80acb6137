"""Neptune: :class:`NeptuneLogger`, :class:`NeptuneSaver` and their handlers, with pytorch-ignite's names and results.

Import them as in ignite, from ``ember.handlers.neptune_logger``. Needs the Neptune client (1.x):
``pip install 'ember[neptune]'``. ``mode="offline"`` keeps the run in ``./.neptune`` without a server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim import Optimizer

from ember import __version__, distributed
from ember.engine import Engine
from ember.handlers.checkpoint import BaseSaveHandler
from ember.handlers.loggers._ignite_base import (
    BaseOptimizerParamsHandler,
    BaseOutputHandler,
    BaseWeightsScalarHandler,
)
from ember.handlers.loggers._services import (
    ServiceLogger,
    default_step,
    import_extra,
    parameter_groups,
    require_logger,
)

__all__ = [
    "GradsScalarHandler",
    "NeptuneLogger",
    "NeptuneSaver",
    "OptimizerParamsHandler",
    "OutputHandler",
    "WeightsScalarHandler",
]

#: where the logger records the ember version that wrote the run
INTEGRATION_VERSION_KEY = "source_code/integrations/ember"


class NeptuneLogger(ServiceLogger):
    """Log to a Neptune run made by ``neptune.init_run(api_token=..., project=..., **kwargs)``.

    Args:
        api_token: the Neptune API token (by default ``$NEPTUNE_API_TOKEN``).
        project: ``"workspace/project"`` (by default ``$NEPTUNE_PROJECT``).
        kwargs: any other keyword of ``neptune.init_run`` (``mode="offline"``, ``name=``, ``tags=`` ...).

    Values are appended to series named as the handlers name them (``training/loss``), at the
    step of the event. ``logger["key"]`` reads and ``logger["key"] = value`` writes a field of the
    run, and any other attribute is the run's (``logger.stop()``); ``experiment`` is the run.
    :meth:`close` stops it.

    Example (offline: no account needed)::

        logger = NeptuneLogger(project="me/mnist", mode="offline")
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="training",
                                     output_transform=lambda loss: {"loss": loss})
        trainer.run(loader, max_epochs=2)
        logger.close()
    """

    def __init__(self, api_token: str | None = None, project: str | None = None, **kwargs: Any) -> None:
        neptune = import_extra("neptune", "NeptuneLogger", "neptune")
        for name, value in (("api_token", api_token), ("project", project)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a string (or None for ${name.upper()}), got {type(value).__name__}.")
        run = neptune.init_run(api_token=api_token, project=project, **kwargs)
        run[INTEGRATION_VERSION_KEY] = __version__
        self.experiment: Any = run

    def __getattr__(self, name: str) -> Any:
        # only reached for names the logger lacks: they are the run's, as in ignite
        experiment = self.__dict__.get("experiment")
        if experiment is None or name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}.")
        return getattr(experiment, name)

    def __getitem__(self, key: str) -> Any:
        return self.experiment[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.experiment[key] = value

    def close(self) -> None:
        """Stop the run: what was logged is sent (or, offline, written to disk)."""
        self.experiment.stop()

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)


class _NeptuneHandler:
    uses_default_step = True

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`NeptuneLogger`."""
        require_logger(self, logger, NeptuneLogger)


class OutputHandler(BaseOutputHandler, _NeptuneHandler):
    """Append an engine's metrics, transformed output and state attributes to the series ``tag/name``.

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

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        values = self._setup_output_metrics_state_attrs(engine, key_tuple=False)
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            raise TypeError(
                f"global_step_transform must return an int, got {step!r} ({type(step).__name__}) for {event_name!r}."
            )
        for key, value in values.items():
            logger[key].append(value, step=step)


class OptimizerParamsHandler(BaseOptimizerParamsHandler, _NeptuneHandler):
    """Append ``param_name`` (the learning rate by default) of each param group to ``[tag/]lr/group_<i>``."""

    def __init__(self, optimizer: Optimizer, param_name: str = "lr", tag: str | None = None) -> None:
        super().__init__(optimizer, param_name, tag)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        step = default_step(engine, event_name)
        for key, value in parameter_groups(self.optimizer, self.param_name, self.tag).items():
            logger[key].append(value, step=step)


class WeightsScalarHandler(BaseWeightsScalarHandler, _NeptuneHandler):
    """Append ``reduction(parameter)`` (the norm by default) to ``[tag/]weights_norm/<name>``.

    As in ignite, only parameters that have a gradient are logged (none before the first backward
    pass). ``whitelist`` keeps some parameters: names or prefixes, or ``(name, parameter) -> bool``.
    """

    kind = "weights"

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        step = default_step(engine, event_name)
        prefix = f"{self.tag}/" if self.tag else ""
        reduction = getattr(self.reduction, "__name__", type(self.reduction).__name__)
        for name, parameter in self.weights:
            if parameter.grad is None:
                continue
            tensor = parameter.grad if self.kind == "grads" else parameter.data
            key = f"{prefix}{self.kind}_{reduction}/{name.replace('.', '/')}"
            logger[key].append(self.reduction(tensor), step=step)


class GradsScalarHandler(WeightsScalarHandler):
    """Append ``reduction(parameter.grad)`` to ``[tag/]grads_norm/<name>``; parameters without one are skipped."""

    kind = "grads"


class NeptuneSaver(BaseSaveHandler):
    """A checkpoint saver that uploads each checkpoint to the run as the file field ``filename``.

    Args:
        neptune_logger: the :class:`NeptuneLogger` of the run.

    Under ``torch.distributed`` rank 0 uploads; :meth:`remove` deletes the field (the other
    ranks wait for it).

    Example::

        logger = NeptuneLogger(project="me/mnist")
        trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"model": model}, NeptuneSaver(logger)))
    """

    def __init__(self, neptune_logger: NeptuneLogger) -> None:
        if distributed.get_rank() == 0 and not isinstance(neptune_logger, NeptuneLogger):
            raise TypeError(f"neptune_logger must be a NeptuneLogger, got {type(neptune_logger).__name__}.")
        self._logger = neptune_logger

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Upload ``checkpoint`` (as ``torch.save`` writes it) to the run's field ``filename``."""
        if distributed.get_rank() != 0:
            return
        from neptune.types import File

        with tempfile.NamedTemporaryFile() as handle:
            torch.save(checkpoint, handle.file)
            handle.file.seek(0)
            stream: Any = handle.file  # a real binary file, which File.from_stream reads
            self._logger[filename].upload(File.from_stream(stream))

    def remove(self, filename: str) -> None:
        """Delete the run's field ``filename``."""
        if distributed.get_rank() == 0:
            del self._logger.experiment[filename]
        distributed.barrier()
