"""What the loggers of hosted trackers share (Weights & Biases, Neptune, ClearML, Visdom, Polyaxon).

These loggers keep pytorch-ignite's design: each module has its own ``OutputHandler``,
``OptimizerParamsHandler`` (and weights/gradients handlers) built on ignite's base classes
(:mod:`ember.handlers.base_logger`), which write straight through the tracker's client. This module
adds the checks ember makes when a handler is attached rather than when it first fires: the
handler belongs to this logger, and the event has a step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ember.engine import Engine, EventsList, FilteredEvent, RemovableEventHandle
from ember.handlers.loggers._ignite_base import BaseLogger

__all__ = ["ServiceLogger", "default_step", "import_extra", "parameter_groups", "require_logger"]


def import_extra(module: str, owner: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` for ``owner``, or fail with an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{owner} needs the {package or extra} package, which is not installed ({error}). "
            f"Install it with: pip install 'ember[{extra}]'."
        ) from error


def require_logger(handler: object, logger: object, logger_type: type) -> None:
    """A TypeError unless ``logger`` is a ``logger_type``: each tracker's handlers write through its own client."""
    if not isinstance(logger, logger_type):
        raise TypeError(
            f"{type(handler).__module__}.{type(handler).__name__} logs only through a {logger_type.__name__}, "
            f"got {type(logger).__name__}. Attach it with a {logger_type.__name__}, or use the handler classes of "
            f"the module of {type(logger).__name__}."
        )


def default_step(engine: Engine, event_name: Any) -> int:
    """The engine's counter of ``event_name`` (its iteration or epoch): the step of handlers without a transform."""
    return engine.state.get_event_attrib_value(event_name)


def parameter_groups(optimizer: Any, param_name: str, tag: str | None) -> dict[str, float]:
    """``{"[tag/]<param_name>/group_<i>": value}`` of each param group, as ignite's optimizer handlers name them."""
    prefix = f"{tag}/" if tag else ""
    return {
        f"{prefix}{param_name}/group_{index}": float(group[param_name])
        for index, group in enumerate(optimizer.param_groups)
    }


def _check_param_name(handler: Any) -> None:
    groups = getattr(getattr(handler, "optimizer", None), "param_groups", None)
    param_name = getattr(handler, "param_name", None)
    if groups is None or param_name is None:
        return
    if any(param_name not in group for group in groups):
        raise ValueError(
            f"{type(handler).__name__}: the optimizer's param groups have no {param_name!r} (they have "
            f"{sorted(groups[0]) if groups else []}). Pass one of those as param_name."
        )


class ServiceLogger(BaseLogger):
    """ignite's :class:`~ember.handlers.base_logger.BaseLogger`, with ember's checks when a handler is attached.

    Attaching fails at once (rather than at the first event) when the handler is one of another
    tracker's handlers, when the optimizer handler names a parameter the param groups lack, or when
    the event has no counter to use as the step and the handler has no ``global_step_transform``.
    """

    def attach(
        self, engine: Engine, log_handler: Callable[..., Any], event_name: Any, *args: Any, **kwargs: Any
    ) -> RemovableEventHandle:
        check = getattr(log_handler, "check_logger", None)
        if callable(check):
            check(self)
        _check_param_name(log_handler)
        if isinstance(engine, Engine) and getattr(log_handler, "uses_default_step", False):
            events = list(event_name) if isinstance(event_name, EventsList) else [event_name]
            for event in events:
                base = event.event if isinstance(event, FilteredEvent) else event
                if engine.has_registered_events(base) and base not in engine.state.event_to_attr:
                    raise ValueError(
                        f"{type(log_handler).__name__} takes its step from the engine's counter of the event, and "
                        f"{base!r} has none. Attach it to an iteration or epoch event, register the event with "
                        "event_to_attr, or give an output handler global_step_transform=..."
                    )
        return super().attach(engine, log_handler, event_name, *args, **kwargs)
