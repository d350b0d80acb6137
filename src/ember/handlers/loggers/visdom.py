"""Visdom: :class:`VisdomLogger` and its handlers, with pytorch-ignite's names and results.

Import them as in ignite, from ``ember.handlers.visdom_logger``. Needs visdom: ``pip install 'ember[visdom]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from ember.engine import Engine
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

__all__ = ["GradsScalarHandler", "OptimizerParamsHandler", "OutputHandler", "VisdomLogger", "WeightsScalarHandler"]


class _InlineExecutor:
    """Runs each call at once, for ``num_workers=0``; has the two executor methods the logger uses."""

    def submit(self, function: Callable[..., Any], **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(function(**kwargs))
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop."""


class VisdomLogger(ServiceLogger):
    """Plot scalars in Visdom: one line plot per name, in the client's environment.

    Args:
        server: the Visdom server's URL; by default ``$VISDOM_SERVER_URL``, else ``"localhost"``.
        port: its port; by default ``$VISDOM_PORT``, else 8097.
        num_workers: threads that send the plots (0 sends them from the training loop itself).
        raise_exceptions: passed to ``visdom.Visdom``.
        kwargs: passed to ``visdom.Visdom`` (``env=``, ``offline=True`` with ``log_to_filename=``
            to write the calls to a file instead of a server ...); ``username`` and ``password``
            default to ``$VISDOM_USERNAME`` and ``$VISDOM_PASSWORD``.

    A server that cannot be reached fails here (unless ``offline=True``). ``vis`` is the
    ``visdom.Visdom`` client; :meth:`close` waits for pending plots and closes the client's windows.

    Example::

        logger = VisdomLogger(env="mnist")
        logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="training",
                                     output_transform=lambda loss: {"loss": loss})
        trainer.run(loader, max_epochs=2)
        logger.close()
    """

    def __init__(
        self,
        server: str | None = None,
        port: int | None = None,
        num_workers: int = 1,
        raise_exceptions: bool = True,
        **kwargs: Any,
    ) -> None:
        visdom = import_extra("visdom", "VisdomLogger", "visdom")
        if server is not None and not isinstance(server, str):
            raise TypeError(f"server must be a URL string (e.g. 'http://localhost'), got {type(server).__name__}.")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
            raise TypeError(f"port must be an integer, got {port!r}.")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a whole number >= 0 (0 sends plots inline), got {num_workers!r}.")
        server = server if server is not None else os.environ.get("VISDOM_SERVER_URL", "localhost")
        port = port if port is not None else int(os.environ.get("VISDOM_PORT", 8097))
        kwargs.setdefault("username", os.environ.get("VISDOM_USERNAME"))
        kwargs.setdefault("password", os.environ.get("VISDOM_PASSWORD"))
        self.vis: Any = visdom.Visdom(server=server, port=port, raise_exceptions=raise_exceptions, **kwargs)
        if not self.vis.offline and not self.vis.check_connection():
            raise RuntimeError(
                f"VisdomLogger cannot connect to a Visdom server at {server}:{port}. Start one with "
                "'python -m visdom.server', or pass offline=True, log_to_filename=... to write to a file."
            )
        self.executor: ThreadPoolExecutor | _InlineExecutor = (
            ThreadPoolExecutor(max_workers=num_workers) if num_workers > 0 else _InlineExecutor()
        )

    def _save(self) -> None:
        self.vis.save([self.vis.env])

    def close(self) -> None:
        """Wait for the plots still being sent, then close the client (``vis.close()``)."""
        self.executor.shutdown()
        self.vis.close()

    def _create_output_handler(self, *args: Any, **kwargs: Any) -> OutputHandler:
        return OutputHandler(*args, **kwargs)

    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> OptimizerParamsHandler:
        return OptimizerParamsHandler(*args, **kwargs)


class _LinePlots:
    """One Visdom line plot (window) per name: created by the first value, appended to by the next ones."""

    def __init__(self, show_legend: bool = False) -> None:
        if not isinstance(show_legend, bool):
            raise TypeError(f"show_legend must be True or False, got {show_legend!r}.")
        self.windows: dict[str, dict[str, Any]] = {}
        self.show_legend = show_legend

    def check_logger(self, logger: Any) -> None:
        """A TypeError unless ``logger`` is a :class:`VisdomLogger`."""
        require_logger(self, logger, VisdomLogger)

    def add_scalar(self, logger: VisdomLogger, name: str, value: Any, event_name: Any, step: int) -> None:
        """Plot ``value`` at ``step`` in the window of ``name``."""
        window = self.windows.get(name)
        if window is None:
            options = {"title": name, "xlabel": str(event_name), "ylabel": name, "showlegend": self.show_legend}
            window = self.windows[name] = {"win": None, "opts": options}
        future = logger.executor.submit(
            logger.vis.line,
            X=[step],
            Y=[value],
            env=logger.vis.env,
            win=window["win"],
            update=None if window["win"] is None else "append",
            opts=window["opts"],
            name=name,
        )
        if window["win"] is None:  # the first plot makes the window: wait for its id
            window["win"] = future.result()

    def plot_all(self, logger: VisdomLogger, values: dict[str, Any], event_name: Any, step: int) -> None:
        for name, value in values.items():
            self.add_scalar(logger, name, value, event_name, step)
        logger._save()


class OutputHandler(BaseOutputHandler, _LinePlots):
    """Plot an engine's metrics, transformed output and state attributes as ``tag/name`` lines.

    Args:
        tag: the prefix of the names (``"training"``).
        metric_names: names in ``engine.state.metrics`` to plot, or ``"all"``.
        output_transform: ``engine.state.output`` -> a number, a tensor or a dict of them.
        global_step_transform: ``(engine, event_name) -> int``; by default the engine's counter of the event.
        show_legend: show the plots' legends.
        state_attributes: ``engine.state`` attributes to plot.
    """

    def __init__(
        self,
        tag: str,
        metric_names: str | list[str] | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        show_legend: bool = False,
        state_attributes: list[str] | None = None,
    ) -> None:
        super().__init__(tag, metric_names, output_transform, global_step_transform, state_attributes)
        _LinePlots.__init__(self, show_legend)
        self.uses_default_step = global_step_transform is None

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        values = self._setup_output_metrics_state_attrs(engine, key_tuple=False)
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int):
            raise TypeError(
                f"global_step_transform must return an int, got {step!r} ({type(step).__name__}) for {event_name!r}."
            )
        self.plot_all(logger, values, event_name, step)


class OptimizerParamsHandler(BaseOptimizerParamsHandler, _LinePlots):
    """Plot ``param_name`` (the learning rate by default) of each param group as ``[tag/]lr/group_<i>``."""

    uses_default_step = True

    def __init__(
        self, optimizer: Optimizer, param_name: str = "lr", tag: str | None = None, show_legend: bool = False
    ) -> None:
        super().__init__(optimizer, param_name, tag)
        _LinePlots.__init__(self, show_legend)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        values = parameter_groups(self.optimizer, self.param_name, self.tag)
        self.plot_all(logger, dict(values), event_name, default_step(engine, event_name))


class WeightsScalarHandler(BaseWeightsScalarHandler, _LinePlots):
    """Plot ``reduction(parameter)`` (the norm by default) of every parameter as ``[tag/]weights_norm/<name>``."""

    uses_default_step = True
    kind = "weights"

    def __init__(
        self,
        model: nn.Module,
        reduction: Callable[[torch.Tensor], Any] = torch.norm,
        tag: str | None = None,
        show_legend: bool = False,
    ) -> None:
        super().__init__(model, reduction, tag=tag)
        _LinePlots.__init__(self, show_legend)

    def __call__(self, engine: Engine, logger: Any, event_name: Any) -> None:
        self.check_logger(logger)
        prefix = f"{self.tag}/" if self.tag else ""
        values = {}
        for name, parameter in self.model.named_parameters():
            tensor = parameter.grad if self.kind == "grads" else parameter.data
            if tensor is None:
                continue
            reduction = getattr(self.reduction, "__name__", type(self.reduction).__name__)
            key = f"{prefix}{self.kind}_{reduction}/{name.replace('.', '/')}"
            values[key] = self.reduction(tensor)
        self.plot_all(logger, values, event_name, default_step(engine, event_name))


class GradsScalarHandler(WeightsScalarHandler):
    """Plot ``reduction(parameter.grad)`` of every parameter as ``[tag/]grads_norm/<name>``; skips ones without."""

    kind = "grads"
