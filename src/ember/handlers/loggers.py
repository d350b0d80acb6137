"""Experiment loggers: send metrics, outputs and optimizer parameters to TensorBoard or MLflow.

Both loggers share one way of wiring: ``attach_output_handler`` logs ``engine.state.metrics``
and/or the transformed ``engine.state.output`` on an event, and ``attach_opt_params_handler``
logs a parameter (the learning rate by default) of each param group. Under ``torch.distributed``
only rank 0 writes; other ranks attach nothing and call nothing.

Example::

    from ember.handlers import TensorBoardLogger, global_step_from_engine

    with TensorBoardLogger(log_dir="runs/exp1") as logger:
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED(every=50), tag="train",
                                     output_transform=lambda loss: {"loss": loss})
        logger.attach_output_handler(evaluator, Events.COMPLETED, tag="validation", metric_names="all",
                                     global_step_transform=global_step_from_engine(trainer))
        logger.attach_opt_params_handler(trainer, Events.ITERATION_STARTED(every=50), optimizer)
        trainer.run(loader, max_epochs=10)

The writers come from optional extras: ``pip install 'ember[tensorboard]'`` or ``'ember[mlflow]'``.
"""

from __future__ import annotations

import numbers
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ember.distributed import get_rank
from ember.engine import Engine, Events, EventsList, FilteredEvent

__all__ = ["BaseLogger", "MLflowLogger", "TensorBoardLogger", "global_step_from_engine"]

GlobalStepTransform = Callable[[Engine, Any], int]

_EPOCH_EVENTS = {Events.STARTED, Events.EPOCH_STARTED, Events.EPOCH_COMPLETED, Events.COMPLETED}


def global_step_from_engine(engine: Engine, counter: str | None = None) -> GlobalStepTransform:
    """A step function that reads another engine's counter, e.g. the trainer's epoch for an evaluator.

    Args:
        engine: the engine whose counter gives the step.
        counter: ``"iteration"`` or ``"epoch"`` (or any counter attribute); by default the counter
            of the event being logged (the epoch for epoch events, the iteration otherwise).

    >>> trainer = Engine(lambda engine, batch: None)
    >>> trainer.run([0, 0, 0], max_epochs=2).iteration
    6
    >>> global_step_from_engine(trainer, "epoch")(Engine(), Events.COMPLETED)
    2
    """

    def step(_: Engine, event: Any) -> int:
        name = counter or ("epoch" if event in _EPOCH_EVENTS else "iteration")
        return int(getattr(engine.state, name))

    return step


def _default_step(engine: Engine, event: Any) -> int:
    return int(engine.state.epoch if event in _EPOCH_EVENTS else engine.state.iteration)


def _scalars(prefix: str, value: Any) -> dict[str, float]:
    """Flatten a number, a tensor, or a mapping of them into ``{name: float}``."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return {prefix: float(value.item())}
        return {f"{prefix}/{index}": float(item) for index, item in enumerate(value.detach().flatten().tolist())}
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return {prefix: float(value)}  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        flat: dict[str, float] = {}
        for key, item in value.items():
            flat.update(_scalars(f"{prefix}/{key}" if prefix else str(key), item))
        return flat
    raise TypeError(
        f"Cannot log {prefix or 'the value'}: expected a number, a tensor or a mapping of them, got "
        f"{type(value).__name__}. Use output_transform to turn the output into numbers."
    )


class BaseLogger(ABC):
    """What TensorBoard and MLflow loggers share; a subclass says how to write and how to close."""

    @abstractmethod
    def _write(self, values: Mapping[str, float], step: int) -> None:
        """Record ``values`` (name -> number) at ``step``."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the writer."""

    def __enter__(self) -> BaseLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def attach_output_handler(
        self,
        engine: Engine,
        event_name: Any,
        tag: str,
        metric_names: Sequence[str] | str | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: GlobalStepTransform | None = None,
    ) -> None:
        """Log metrics and/or the output of ``engine`` under ``tag`` each time ``event_name`` fires.

        Args:
            engine: the engine to read from.
            event_name: the event (filtered events and ``|`` lists work).
            tag: a prefix for the names, e.g. ``"train"`` gives ``"train/loss"``.
            metric_names: names in ``engine.state.metrics`` to log, or ``"all"``.
            output_transform: turns ``engine.state.output`` into a number, a tensor or a mapping
                of them; left out, the output is not logged.
            global_step_transform: ``(engine, event) -> step``; by default the engine's epoch for
                epoch events and its iteration otherwise.
        """
        if metric_names is None and output_transform is None:
            raise ValueError(
                "attach_output_handler logs nothing without metric_names or output_transform. "
                "Pass metric_names=['accuracy', ...] or 'all', and/or output_transform=lambda output: {...}."
            )
        if isinstance(metric_names, str) and metric_names != "all":
            raise ValueError(f"metric_names must be a list of names or 'all', got {metric_names!r}.")
        if output_transform is not None and not callable(output_transform):
            raise TypeError(f"output_transform must be callable, got {type(output_transform).__name__}.")
        step_of = global_step_transform or _default_step
        if get_rank() != 0:
            return
        for event in event_name if isinstance(event_name, EventsList) else [event_name]:
            base = event.event if isinstance(event, FilteredEvent) else event

            def log(engine: Engine, base: Any = base) -> None:
                values: dict[str, float] = {}
                if metric_names is not None:
                    metrics = engine.state.metrics
                    names = list(metrics) if metric_names == "all" else metric_names
                    missing = [name for name in names if name not in metrics]
                    if missing:
                        raise KeyError(
                            f"{tag}: metrics {missing} are not in engine.state.metrics (it has {sorted(metrics)}). "
                            "Attach those metrics to this engine, or log only the ones it computes."
                        )
                    for name in names:
                        values.update(_scalars(f"{tag}/{name}", metrics[name]))
                if output_transform is not None:
                    values.update(_scalars(tag, output_transform(engine.state.output)))
                self._write(values, step_of(engine, base))

            engine.add_event_handler(event, log)

    def attach_opt_params_handler(
        self,
        engine: Engine,
        event_name: Any,
        optimizer: torch.optim.Optimizer,
        param_name: str = "lr",
        tag: str | None = None,
    ) -> None:
        """Log ``param_name`` of each param group of ``optimizer`` as ``[tag/]param_name/group<i>``."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
        if any(param_name not in group for group in optimizer.param_groups):
            raise ValueError(
                f"The optimizer's param groups have no {param_name!r} (they have {sorted(optimizer.param_groups[0])})."
            )
        if get_rank() != 0:
            return
        prefix = f"{tag}/" if tag else ""

        def log(engine: Engine) -> None:
            values = {
                f"{prefix}{param_name}/group{index}": float(group[param_name])
                for index, group in enumerate(optimizer.param_groups)
            }
            self._write(values, engine.state.iteration)

        engine.add_event_handler(event_name, log)


class TensorBoardLogger(BaseLogger):
    """Write scalars to TensorBoard event files in ``log_dir``, through torch's ``SummaryWriter``.

    Extra keyword arguments go to ``torch.utils.tensorboard.SummaryWriter``. ``writer`` exposes it
    for anything else (histograms, images, graphs).
    """

    def __init__(self, log_dir: str | os.PathLike[str], **writer_kwargs: Any) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "TensorBoardLogger needs the tensorboard package: pip install 'ember[tensorboard]'."
            ) from error
        self.writer = SummaryWriter(log_dir=os.fspath(log_dir), **writer_kwargs) if get_rank() == 0 else None

    def _write(self, values: Mapping[str, float], step: int) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class MLflowLogger(BaseLogger):
    """Log metrics to an MLflow run (a new one in ``experiment_name``, or ``run_id`` if given).

    Args:
        tracking_uri: where MLflow stores runs; by default MLflow's own setting.
        experiment_name: the experiment to create the run in (created if missing).
        run_id: log into this existing run instead of creating one.
        params: logged once as run parameters (hyper-parameters).

    ``client`` and ``run_id`` expose the MLflow client and run for anything else.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str = "ember",
        run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            import mlflow
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("MLflowLogger needs mlflow: pip install 'ember[mlflow]'.") from error
        self._metric = mlflow.entities.Metric
        self.client: Any = None
        self.run_id = run_id
        if get_rank() != 0:
            return
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if self.run_id is None:
            experiment = self.client.get_experiment_by_name(experiment_name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
            self.run_id = self.client.create_run(experiment_id).info.run_id
        for key, value in (params or {}).items():
            self.client.log_param(self.run_id, key, value)

    def _write(self, values: Mapping[str, float], step: int) -> None:
        if self.client is None or not values:
            return
        now = int(time.time() * 1000)
        metrics = [self._metric(name, value, now, step) for name, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id)
            self.client = None
