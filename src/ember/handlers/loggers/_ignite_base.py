"""pytorch-ignite's logger base classes, for loggers users write themselves against ignite's API.

ignite's documented way to write a logger is to subclass ``BaseLogger`` (give
``_create_output_handler`` and ``_create_opt_params_handler``) and its handler bases
(``BaseOutputHandler`` with ``_setup_output_metrics_state_attrs``, ``BaseOptimizerParamsHandler``,
``BaseWeightsHandler`` with ``weights``, ``BaseWeightsScalarHandler`` with ``reduction``). These
classes give that API on ember's engine, so such a logger runs unchanged with ``ignite`` replaced
by ``ember`` and makes the same calls with the same values.

ember's own loggers (:class:`~ember.handlers.loggers.BaseLogger` and its handlers) count as
instances of these bases (``isinstance`` holds), as ignite's do; they write through ember's
``write`` rather than the ``_create_*`` hooks.
"""

from __future__ import annotations

import numbers
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ember.engine import Engine, EventsList, FilteredEvent, RemovableEventHandle
from ember.handlers.loggers import base as ember_base
from ember.handlers.loggers.base import BaseHandler
from ember.metrics._checks import check_callable

__all__ = [
    "BaseHandler",
    "BaseLogger",
    "BaseOptimizerParamsHandler",
    "BaseOutputHandler",
    "BaseWeightsHandler",
    "BaseWeightsScalarHandler",
]

Whitelist = Sequence[str] | Callable[[str, nn.Parameter], bool]


class BaseWeightsHandler(BaseHandler):
    """The base of handlers that log a model's parameters (or their gradients), as ignite's.

    Args:
        model: the model.
        tag: an optional prefix for the names.
        whitelist: which parameters: names or name prefixes (``["fc", "conv1.weight"]``), or a
            callable ``(name, parameter) -> bool``; all parameters by default.

    Attributes:
        weights: the selected ``(name, parameter)`` pairs, in the model's order.
    """

    def __init__(self, model: nn.Module, tag: str | None = None, whitelist: Whitelist | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if tag is not None and not isinstance(tag, str):
            raise TypeError(f"tag must be a string or None, got {type(tag).__name__}.")
        listed = whitelist is None or callable(whitelist) or isinstance(whitelist, Sequence)
        if not listed or isinstance(whitelist, str):
            raise TypeError(
                "whitelist must be a list of parameter names (or prefixes) or a callable (name, parameter) -> "
                f"bool, got {whitelist!r}."
            )
        self.model = model
        self.tag = tag
        named = list(model.named_parameters())
        if whitelist is None:
            chosen = named
        elif callable(whitelist):
            chosen = [(name, parameter) for name, parameter in named if whitelist(name, parameter)]
        else:
            prefixes = tuple(whitelist)
            chosen = [(name, parameter) for name, parameter in named if name.startswith(prefixes)]
        self.weights: tuple[tuple[str, nn.Parameter], ...] = tuple(chosen)


class BaseWeightsScalarHandler(BaseWeightsHandler):
    """A :class:`BaseWeightsHandler` that reduces each parameter to a number with ``reduction`` (the norm by default).

    ``reduction`` is tried on a small tensor now: it must give a number or a 0-d tensor.
    """

    def __init__(
        self,
        model: nn.Module,
        reduction: Callable[[torch.Tensor], float | torch.Tensor] = torch.norm,
        tag: str | None = None,
        whitelist: Whitelist | None = None,
    ) -> None:
        super().__init__(model, tag=tag, whitelist=whitelist)
        if not callable(reduction):
            raise TypeError(f"reduction must be callable (tensor -> number), got {type(reduction).__name__}.")
        sample = reduction(torch.ones(4, 2))
        if not isinstance(sample, numbers.Number) and not (isinstance(sample, torch.Tensor) and sample.dim() == 0):
            raise TypeError(
                f"reduction must turn a tensor into one number, but on a 4x2 tensor it gave "
                f"{type(sample).__name__}{tuple(sample.shape) if isinstance(sample, torch.Tensor) else ''}. "
                "Reduce to a scalar (e.g. torch.norm, torch.mean)."
            )
        self.reduction = reduction


class BaseOptimizerParamsHandler(BaseHandler):
    """The base of handlers that log an optimizer's ``param_name`` per param group, as ignite's."""

    def __init__(self, optimizer: torch.optim.Optimizer, param_name: str = "lr", tag: str | None = None) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(optimizer, torch.optim.Optimizer) and not isinstance(groups, Sequence):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer (or have a param_groups list), got "
                f"{type(optimizer).__name__}."
            )
        if not isinstance(param_name, str):
            raise TypeError(f"param_name must be a string, got {type(param_name).__name__}.")
        self.optimizer = optimizer
        self.param_name = param_name
        self.tag = tag


def _default_global_step(engine: Engine, event_name: Any) -> int:
    return engine.state.get_event_attrib_value(event_name)


class BaseOutputHandler(BaseHandler):
    """The base of handlers that log an engine's metrics, transformed output and state attributes, as ignite's.

    Args:
        tag: the prefix of the names.
        metric_names: names in ``engine.state.metrics``, or ``"all"``.
        output_transform: ``engine.state.output -> number, tensor or mapping`` to log.
        global_step_transform: ``(engine, event_name) -> int``; by default the engine's counter of
            the event.
        state_attributes: ``engine.state`` attributes to log.

    A subclass's ``__call__`` gets what to log from :meth:`_setup_output_metrics_state_attrs`.
    """

    def __init__(
        self,
        tag: str,
        metric_names: str | list[str] | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        state_attributes: list[str] | None = None,
    ) -> None:
        if metric_names not in (None, "all") and (
            isinstance(metric_names, str) or not isinstance(metric_names, Sequence)
        ):
            raise TypeError(f"metric_names must be a list of metric names or 'all', got {metric_names!r}.")
        if output_transform is not None:
            check_callable(
                output_transform, type(self).__name__, "output_transform", "output_transform(engine.state.output)", 1
            )
        if metric_names is None and output_transform is None and state_attributes is None:
            raise ValueError(
                "An output handler logs nothing without metric_names, output_transform or state_attributes. "
                "Pass at least one of them."
            )
        if global_step_transform is not None:
            ember_base._check_step_transform(global_step_transform)
        self.tag = tag
        self.metric_names = metric_names
        self.output_transform = output_transform
        self.global_step_transform: Callable[[Engine, Any], int] = global_step_transform or _default_global_step
        self.state_attributes = state_attributes

    def _collect(self, engine: Engine) -> dict[str, Any]:
        """``{name: value}`` of the metrics, the transformed output and the state attributes, unflattened."""
        collected: dict[str, Any] = {}
        metrics = engine.state.metrics
        if self.metric_names == "all":
            collected.update(metrics)
        elif self.metric_names is not None:
            for name in self.metric_names:
                if name in metrics:
                    collected[name] = metrics[name]
                else:
                    warnings.warn(
                        f"{type(self).__name__} {self.tag!r}: the metric {name!r} is not in engine.state.metrics "
                        f"(it has {list(metrics)}); it is not logged.",
                        UserWarning,
                        stacklevel=3,
                    )
        if self.output_transform is not None:
            output = self.output_transform(engine.state.output)
            collected.update(output if isinstance(output, dict) else {"output": output})
        for attribute in self.state_attributes or ():
            collected[attribute] = getattr(engine.state, attribute, None)
        return collected

    def _setup_output_metrics_state_attrs(
        self, engine: Engine, log_text: bool | None = False, key_tuple: bool | None = True
    ) -> dict[Any, Any]:
        """What to log now, flattened: ``{(tag, name, ...): value}`` (or ``{"tag/name/...": value}``).

        Mappings and sequences nest their keys and indices; a 1-d tensor gives one entry per
        element; numbers and 0-d tensors are logged as numbers, strings only with ``log_text``;
        anything else is skipped with a warning.
        """
        flat: dict[Any, Any] = {}

        def key_of(parent: Any, child: str) -> Any:
            if not key_tuple:
                return f"{parent}/{child}"
            if parent is None:
                return (child,)
            return (parent, child) if isinstance(parent, str) else (*parent, child)

        def add(key: Any, value: Any) -> None:
            if isinstance(value, Mapping):
                for child, item in value.items():
                    add(key_of(key, child), item)
            elif isinstance(value, Sequence) and not isinstance(value, str):
                for index, item in enumerate(value):
                    add(key_of(key, str(index)), item)
            elif isinstance(value, torch.Tensor) and value.dim() == 1:
                for index, item in enumerate(value):
                    add(key_of(key, str(index)), item.item())
            elif isinstance(value, numbers.Number):
                flat[key] = value
            elif isinstance(value, torch.Tensor) and value.dim() == 0:
                flat[key] = value.item()
            elif isinstance(value, str) and log_text:
                flat[key] = value
            else:
                warnings.warn(
                    f"{type(self).__name__} {self.tag!r} cannot log {key!r}: a {type(value).__name__} is not a "
                    "number (strings need log_text=True); it is skipped.",
                    UserWarning,
                    stacklevel=4,
                )

        for name, value in self._collect(engine).items():
            add(key_of(self.tag, name), value)
        return flat


class BaseLogger(ABC):
    """ignite's logger base: a subclass gives ``_create_output_handler`` and ``_create_opt_params_handler``.

    ``attach(engine, log_handler, event_name)`` calls ``log_handler(engine, logger, event_name)``
    each time the event fires; ``attach_output_handler(engine, event_name, ...)`` and
    ``attach_opt_params_handler(engine, event_name, ...)`` build the handler with the subclass's
    ``_create_*`` method and attach it. ``close()`` (nothing by default) runs when a ``with`` block
    ends.

    >>> from ember.engine import Engine, Events
    >>> class PrintOutput(BaseOutputHandler):
    ...     def __call__(self, engine, logger, event_name):
    ...         values = self._setup_output_metrics_state_attrs(engine, key_tuple=False)
    ...         logger.lines.append((self.global_step_transform(engine, event_name), values))
    >>> class ListLogger(BaseLogger):
    ...     def __init__(self):
    ...         self.lines = []
    ...     def _create_output_handler(self, *args, **kwargs):
    ...         return PrintOutput(*args, **kwargs)
    ...     def _create_opt_params_handler(self, *args, **kwargs):
    ...         raise NotImplementedError
    >>> trainer = Engine(lambda engine, batch: batch * 2.0)
    >>> logger = ListLogger()
    >>> _ = logger.attach_output_handler(trainer, Events.ITERATION_COMPLETED, tag="train", output_transform=float)
    >>> _ = trainer.run([1, 2])
    >>> logger.lines
    [(1, {'train/output': 2.0}), (2, {'train/output': 4.0})]
    """

    def attach(
        self, engine: Engine, log_handler: Callable[..., Any], event_name: Any, *args: Any, **kwargs: Any
    ) -> RemovableEventHandle:
        """Call ``log_handler(engine, self, event_name, *args, **kwargs)`` whenever ``event_name`` fires.

        Raises:
            TypeError: ``engine`` is not an ember Engine, or ``log_handler`` is not callable.
            ValueError: ``event_name`` (or one of an ``EventsList``) is not an event of ``engine``.
        """
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be an ember Engine, got {type(engine).__name__}.")
        if not callable(log_handler):
            raise TypeError(
                f"log_handler must be callable as log_handler(engine, logger, event_name), got {log_handler!r}."
            )
        events = list(event_name) if isinstance(event_name, EventsList) else [event_name]
        for event in events:
            base = event.event if isinstance(event, FilteredEvent) else event
            if not engine.has_registered_events(base):
                raise ValueError(
                    f"{event!r} is not an event of this engine. Pass a member of Events, or register custom events "
                    "first with engine.register_events(...)."
                )
        if isinstance(event_name, EventsList):
            for event in events:
                engine.add_event_handler(event, log_handler, self, event)
            return RemovableEventHandle(event_name, log_handler, engine)
        return engine.add_event_handler(event_name, log_handler, self, event_name, *args, **kwargs)

    def attach_output_handler(self, engine: Engine, event_name: Any, *args: Any, **kwargs: Any) -> RemovableEventHandle:
        """Attach ``self._create_output_handler(*args, **kwargs)`` at ``event_name``."""
        return self.attach(engine, self._create_output_handler(*args, **kwargs), event_name=event_name)

    def attach_opt_params_handler(
        self, engine: Engine, event_name: Any, *args: Any, **kwargs: Any
    ) -> RemovableEventHandle:
        """Attach ``self._create_opt_params_handler(*args, **kwargs)`` at ``event_name``."""
        return self.attach(engine, self._create_opt_params_handler(*args, **kwargs), event_name=event_name)

    @abstractmethod
    def _create_output_handler(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """The output handler :meth:`attach_output_handler` attaches."""

    @abstractmethod
    def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """The optimizer-parameters handler :meth:`attach_opt_params_handler` attaches."""

    def close(self) -> None:  # noqa: B027 - a logger without anything to release keeps this
        """Release what the logger holds (nothing by default)."""

    def __enter__(self) -> BaseLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ember's own loggers and handlers are these bases' instances too, as ignite's are (same public API).
BaseLogger.register(ember_base.BaseLogger)  # type: ignore[type-abstract]
BaseOutputHandler.register(ember_base.OutputHandler)
BaseOptimizerParamsHandler.register(ember_base.OptimizerParamsHandler)
BaseWeightsScalarHandler.register(ember_base.WeightsScalarHandler)
BaseWeightsHandler.register(ember_base.WeightsHistHandler)
