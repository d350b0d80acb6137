"""What every experiment logger shares: the attach API, the log handlers, and the step rules.

A logger (TensorBoard, MLflow, CSV, JSONL) only says how to write ``{name: number}`` at a step.
Everything else lives here once:

- :class:`BaseLogger` with pytorch-ignite's API: ``attach(engine, log_handler, event_name)``,
  ``attach_output_handler(...)``, ``attach_opt_params_handler(...)``, ``close()`` and the
  context-manager form;
- the log handlers, called as ``handler(engine, logger, event_name)``: :class:`OutputHandler`,
  :class:`OptimizerParamsHandler`, :class:`WeightsScalarHandler`, :class:`GradsScalarHandler`,
  :class:`WeightsHistHandler`, :class:`GradsHistHandler`;
- :func:`global_step_from_engine`, to log an evaluator's values at the trainer's epoch.

Under ``torch.distributed`` only rank 0 writes: on other ranks a logger creates no file and
``attach`` adds no handler (it still returns a handle, whose ``remove()`` does nothing).
"""

from __future__ import annotations

import inspect
import numbers
import os
import tempfile
import time
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ember.distributed import get_rank
from ember.engine import Engine, Events, EventsList, FilteredEvent, RemovableEventHandle
from ember.engine.events import BUILTIN_EVENT_COUNTERS
from ember.metrics._checks import check_callable, keywords_checked

__all__ = [
    "BaseHandler",
    "BaseLogger",
    "GradsHistHandler",
    "GradsScalarHandler",
    "OptimizerParamsHandler",
    "OutputHandler",
    "WeightsHistHandler",
    "WeightsScalarHandler",
    "global_step_from_engine",
]

GlobalStepTransform = Callable[[Engine, Any], int]
Whitelist = Sequence[str] | Callable[[str, torch.nn.Parameter], bool]


def _base_event(event: Any) -> Any:
    return event.event if isinstance(event, FilteredEvent) else event


def _event_label(event: Any) -> str:
    """``ITERATION_COMPLETED`` for ``Events.ITERATION_COMPLETED``; the value of other enums; strings as they are."""
    event = _base_event(event)
    return str(getattr(event, "name", event))


def global_step_from_engine(
    engine: Engine, custom_event_name: Any = None, fallback_attr: str = "epoch"
) -> GlobalStepTransform:
    """A ``global_step_transform`` that reads another engine's counter, e.g. the trainer's epoch for an evaluator.

    Args:
        engine: the engine whose counter gives the step.
        custom_event_name: read the counter of this event instead of the event being logged
            (``Events.ITERATION_COMPLETED`` gives the iteration, ``Events.EPOCH_COMPLETED`` the epoch).
        fallback_attr: the ``engine.state`` attribute used for events without a built-in counter.

    The event being logged (or ``custom_event_name``) picks the counter: ``epoch`` for ``STARTED``,
    ``EPOCH_*`` and ``COMPLETED`` (so an evaluator's ``COMPLETED`` lands on the trainer's epoch),
    ``iteration`` for the iteration events.

    >>> trainer = Engine(lambda engine, batch: None)
    >>> trainer.run([0, 0, 0], max_epochs=2).iteration
    6
    >>> global_step_from_engine(trainer)(Engine(), Events.COMPLETED)
    2
    >>> global_step_from_engine(trainer, Events.ITERATION_COMPLETED)(Engine(), Events.COMPLETED)
    6
    """

    def counter_of(event_name: Any) -> str:
        event = _base_event(custom_event_name if custom_event_name is not None else event_name)
        return BUILTIN_EVENT_COUNTERS.get(event, fallback_attr)

    def global_step(_: Engine, event_name: Any) -> int:
        return int(getattr(engine.state, counter_of(event_name)))

    # which engine's counter the steps count: a file logger drops the rows past a resume by it
    global_step._ember_step_scale = lambda event_name: (id(engine), counter_of(event_name))  # type: ignore[attr-defined]
    return global_step


def _name_prefix(log_handler: Any) -> str | None:
    """The first part of every name ``log_handler`` logs (``train`` of ``train/loss``); None if unknown."""
    if isinstance(log_handler, OutputHandler):
        return log_handler.tag
    if isinstance(log_handler, OptimizerParamsHandler):
        return log_handler.prefix.rstrip("/") or log_handler.param_name
    if isinstance(log_handler, _ParametersHandler):
        first = (
            f"{log_handler.kind}_{log_handler.reduction_name}" if isinstance(log_handler, WeightsScalarHandler) else ""
        )
        return log_handler.prefix.rstrip("/") or first or log_handler.kind
    return None


def _row_prefix(names: Any) -> str:
    """The first part of the first logged name of a row (what :func:`_name_prefix` gives for its handler)."""
    for name in names:
        return str(name).split("/", 1)[0]
    return ""


def _step_scale(log_handler: Any, engine: Engine, event: Any) -> tuple[int, str] | None:
    """``(id(engine), counter)`` whose value the handler logs as the step of ``event``; None if unknown."""
    if not isinstance(log_handler, BaseHandler):
        return None
    if getattr(log_handler, "custom_step", False):
        scale = getattr(getattr(log_handler, "global_step_transform", None), "_ember_step_scale", None)
        return scale(event) if callable(scale) else None
    counter = BUILTIN_EVENT_COUNTERS.get(_base_event(event))
    return (id(engine), counter) if counter is not None else None


def _default_step(engine: Engine, event_name: Any) -> int:
    return int(getattr(engine.state, BUILTIN_EVENT_COUNTERS[_base_event(event_name)]))


def _check_step_transform(global_step_transform: Any) -> None:
    if not callable(global_step_transform):
        raise TypeError(
            f"global_step_transform must be callable as global_step_transform(engine, event_name) -> int, got "
            f"{type(global_step_transform).__name__}."
        )
    try:
        inspect.signature(global_step_transform).bind(None, None)
    except TypeError:
        raise TypeError(
            f"global_step_transform {getattr(global_step_transform, '__qualname__', global_step_transform)!r} "
            "cannot be called as global_step_transform(engine, event_name). Give it two parameters, or use "
            "global_step_from_engine(trainer)."
        ) from None
    except ValueError:  # a builtin without a signature: it will tell when called
        pass


class _Flattener:
    """Turns numbers, tensors and mappings of them into ``{name: float}``; skips the rest with one warning per name."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._warned: set[str] = set()

    def add(self, out: dict[str, float], name: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            if value.numel() == 1:
                out[name] = float(value.item())
                return
            if value.ndim == 1:
                for index, item in enumerate(value.detach().cpu().tolist()):
                    out[f"{name}/{index}"] = float(item)
                return
        elif isinstance(value, numbers.Real):
            out[name] = float(value)
            return
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.add(out, f"{name}/{key}", item)
            return
        if name not in self._warned:
            self._warned.add(name)
            shape = f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else ""
            warnings.warn(
                f"{self.owner} skips {name!r}: it is a {type(value).__name__}{shape}, not a number, a one-element "
                "or 1-d tensor, or a mapping of them. Turn it into numbers with output_transform to log it "
                "(this warning is shown once per name).",
                UserWarning,
                stacklevel=2,
            )


class BaseHandler(ABC):
    """A log handler: ``handler(engine, logger, event_name)`` reads the engine and writes through the logger."""

    #: Whether the handler writes histograms (only TensorBoard stores them).
    writes_histograms = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # a misspelt keyword (``output_transfrom=``) names the closest parameter the constructor has
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            setattr(cls, "__init__", keywords_checked(init))  # noqa: B010

    @abstractmethod
    def __call__(self, engine: Engine, logger: BaseLogger, event_name: Any) -> None:
        """Write what this handler logs, at ``event_name`` of ``engine``."""


class OutputHandler(BaseHandler):
    """Log metrics, the (transformed) output and state attributes of an engine as ``tag/name``.

    Args:
        tag: the prefix of the names: ``"train"`` gives ``"train/loss"``.
        metric_names: names in ``engine.state.metrics`` to log, or ``"all"``.
        output_transform: turns ``engine.state.output`` into a number, a tensor, or a mapping of
            them (a mapping gives ``tag/key``, anything else ``tag/output``).
        global_step_transform: ``(engine, event_name) -> int``; by default the engine's epoch for
            ``STARTED``/``EPOCH_*``/``COMPLETED`` and its iteration for iteration events.
        state_attributes: names of ``engine.state`` attributes to log as ``tag/<attribute>``.

    A one-element tensor is logged as a number and a 1-d tensor as ``name/0``, ``name/1``, ...;
    any other value is skipped with one warning that names it. A requested metric missing from
    ``engine.state.metrics`` is an error (a ``KeyError`` that lists the metrics there are).
    """

    def __init__(
        self,
        tag: str,
        metric_names: Sequence[str] | str | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: GlobalStepTransform | None = None,
        state_attributes: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a string, got {type(tag).__name__}.")
        if metric_names is None and output_transform is None and not state_attributes:
            raise ValueError(
                "An output handler logs nothing without metric_names, output_transform or state_attributes. "
                "Pass metric_names=['accuracy', ...] or 'all', and/or output_transform=lambda output: {...}."
            )
        if isinstance(metric_names, str) and metric_names != "all":
            raise ValueError(f"metric_names must be a list of names or 'all', got {metric_names!r}.")
        if metric_names is not None and not isinstance(metric_names, (str, Sequence)):
            raise TypeError(f"metric_names must be a list of names or 'all', got {type(metric_names).__name__}.")
        if output_transform is not None:
            check_callable(
                output_transform, "OutputHandler", "output_transform", "output_transform(engine.state.output)", 1
            )
        if global_step_transform is not None:
            _check_step_transform(global_step_transform)
        if isinstance(state_attributes, str) or not isinstance(state_attributes, (Sequence, type(None))):
            raise TypeError(
                f"state_attributes must be a list of engine.state attribute names, got {state_attributes!r}. "
                f"Pass e.g. state_attributes=[{state_attributes!r}]."
            )
        self.tag = tag
        self.metric_names = metric_names
        self.output_transform = output_transform
        self.global_step_transform: GlobalStepTransform = global_step_transform or _default_step
        self.custom_step = global_step_transform is not None
        self.state_attributes = list(state_attributes or [])
        self._flatten = _Flattener(f"Output handler {tag!r}")

    def values(self, engine: Engine) -> dict[str, float]:
        """What this handler logs for ``engine`` now, as ``{name: number}``."""
        out: dict[str, float] = {}
        if self.metric_names is not None:
            metrics = engine.state.metrics
            names = list(metrics) if self.metric_names == "all" else list(self.metric_names)
            missing = [name for name in names if name not in metrics]
            if missing:
                raise KeyError(
                    f"{self.tag}: metrics {missing} are not in engine.state.metrics (it has {sorted(metrics)}). "
                    "Attach those metrics to this engine, or log only the ones it computes."
                )
            for name in names:
                self._flatten.add(out, f"{self.tag}/{name}", metrics[name])
        if self.output_transform is not None:
            output = self.output_transform(engine.state.output)
            if not isinstance(output, Mapping):
                output = {"output": output}
            for name, value in output.items():
                self._flatten.add(out, f"{self.tag}/{name}", value)
        for attribute in self.state_attributes:
            if not hasattr(engine.state, attribute):
                raise AttributeError(self._missing_attribute(engine, attribute))
            self._flatten.add(out, f"{self.tag}/{attribute}", getattr(engine.state, attribute))
        return out

    def _missing_attribute(self, engine: Engine, attribute: str) -> str:
        names = sorted(name for name in vars(engine.state) if not name.startswith("_"))
        return (
            f"{self.tag}: state_attributes names {attribute!r}, but engine.state has no attribute {attribute!r} "
            f"(it has {names}). Set engine.state.{attribute} before the first logging event, or remove it from "
            "state_attributes."
        )

    def check_engine(self, engine: Engine) -> None:
        """Warn, when attached, about ``state_attributes`` that ``engine.state`` does not have yet."""
        for attribute in self.state_attributes:
            if not hasattr(engine.state, attribute):
                warnings.warn(
                    self._missing_attribute(engine, attribute) + " (Logging fails if it is still missing then.)",
                    UserWarning,
                    stacklevel=4,
                )

    def __call__(self, engine: Engine, logger: BaseLogger, event_name: Any) -> None:
        step = self.global_step_transform(engine, event_name)
        if not isinstance(step, int) or isinstance(step, bool):
            raise TypeError(
                f"global_step_transform must return an int, got {step!r} ({type(step).__name__}) for {event_name!r}."
            )
        logger.write(self.values(engine), step, event_name)


class OptimizerParamsHandler(BaseHandler):
    """Log ``param_name`` (the learning rate by default) of each param group as ``[tag/]lr/group_<i>``.

    The step is the engine's counter of the event (epoch or iteration).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, param_name: str = "lr", tag: str | None = None) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
        if any(param_name not in group for group in optimizer.param_groups):
            raise ValueError(
                f"The optimizer's param groups have no {param_name!r} (they have {sorted(optimizer.param_groups[0])}). "
                "Pass one of those as param_name."
            )
        self.optimizer = optimizer
        self.param_name = param_name
        self.prefix = f"{tag}/" if tag else ""

    def __call__(self, engine: Engine, logger: BaseLogger, event_name: Any) -> None:
        values = {
            f"{self.prefix}{self.param_name}/group_{index}": float(group[self.param_name])
            for index, group in enumerate(self.optimizer.param_groups)
        }
        logger.write(values, _default_step(engine, event_name), event_name)


class _ParametersHandler(BaseHandler):
    """Shared by the weights and gradients handlers: which parameters, under which names."""

    kind = "weights"

    def __init__(self, model: torch.nn.Module, tag: str | None = None, whitelist: Whitelist | None = None) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if whitelist is not None and not callable(whitelist) and not isinstance(whitelist, Sequence):
            raise TypeError(
                "whitelist must be a list of parameter names (or prefixes) or a callable (name, parameter) -> bool, "
                f"got {type(whitelist).__name__}."
            )
        if isinstance(whitelist, str):
            raise TypeError(
                f"whitelist must be a list of parameter names or prefixes, got a string. Pass [{whitelist!r}]."
            )
        self.model = model
        self.prefix = f"{tag}/" if tag else ""
        self.whitelist = whitelist
        named = list(model.named_parameters())
        if whitelist is None:
            chosen = named
        elif callable(whitelist):
            chosen = [(name, parameter) for name, parameter in named if whitelist(name, parameter)]
        else:  # ignite's rule: a parameter whose name starts with one of the entries
            prefixes = tuple(whitelist)
            chosen = [(name, parameter) for name, parameter in named if name.startswith(prefixes)]
        if not chosen:
            raise ValueError(
                f"{type(self).__name__} whitelist={whitelist!r} selects none of the model's parameters, so it would "
                f"log nothing. The parameters are {[name for name, _ in named][:20]}; list names or prefixes of them."
            )
        #: The selected ``(name, parameter)`` pairs, chosen once here (as ignite's ``weights``).
        self.weights = tuple(chosen)

    def _selected(self) -> list[tuple[str, torch.Tensor]]:
        chosen = []
        for name, parameter in self.weights:
            tensor = parameter.grad if self.kind == "grads" else parameter
            if tensor is None:
                continue
            chosen.append((name.replace(".", "/"), tensor.detach()))
        return chosen


class WeightsScalarHandler(_ParametersHandler):
    """Log ``reduction(parameter)`` (the norm by default) of each parameter as ``[tag/]weights_norm/<name>``.

    ``whitelist`` keeps some parameters: a list of name prefixes (ignite's rule: ``["fc"]`` keeps
    ``fc1.weight`` and ``fc2.bias``), or ``(name, parameter) -> bool``; the parameters are chosen
    once, here, and a whitelist that keeps none is a ``ValueError``. ``reduction`` is tried on a
    small tensor here: it must give one number.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        reduction: Callable[[torch.Tensor], float | torch.Tensor] = torch.norm,
        tag: str | None = None,
        whitelist: Whitelist | None = None,
    ) -> None:
        super().__init__(model, tag, whitelist)
        check_callable(reduction, type(self).__name__, "reduction", "reduction(tensor)", 1)
        reduced = reduction(torch.ones(4, 2))  # as ignite: a trial call shows what it returns
        if not isinstance(reduced, numbers.Real) and not (isinstance(reduced, torch.Tensor) and reduced.numel() == 1):
            shape = f" of shape {tuple(reduced.shape)}" if isinstance(reduced, torch.Tensor) else ""
            raise TypeError(
                f"{type(self).__name__} reduction must turn a tensor into one number, but for a (4, 2) tensor it "
                f"returned a {type(reduced).__name__}{shape}. Reduce over every element, e.g. "
                "reduction=lambda t: t.abs().mean()."
            )
        self.reduction = reduction
        self.reduction_name = getattr(reduction, "__name__", type(reduction).__name__)

    def __call__(self, engine: Engine, logger: BaseLogger, event_name: Any) -> None:
        values = {}
        for name, tensor in self._selected():
            reduced = self.reduction(tensor)
            values[f"{self.prefix}{self.kind}_{self.reduction_name}/{name}"] = float(reduced)
        logger.write(values, _default_step(engine, event_name), event_name)


class GradsScalarHandler(WeightsScalarHandler):
    """Log ``reduction(parameter.grad)`` of each parameter as ``[tag/]grads_norm/<name>``.

    Parameters without a gradient are skipped.
    """

    kind = "grads"


class WeightsHistHandler(_ParametersHandler):
    """Log a histogram of each parameter as ``[tag/]weights/<name>`` (TensorBoard only).

    A parameter holding NaN or infinite values is skipped, with one warning per name, instead of
    stopping the run.
    """

    def __init__(self, model: torch.nn.Module, tag: str | None = None, whitelist: Whitelist | None = None) -> None:
        super().__init__(model, tag, whitelist)
        self._warned: set[str] = set()

    writes_histograms = True

    def __call__(self, engine: Engine, logger: BaseLogger, event_name: Any) -> None:
        values = {}
        for name, tensor in self._selected():
            tag = f"{self.prefix}{self.kind}/{name}"
            if bool(torch.isfinite(tensor).all()):
                values[tag] = tensor
                continue
            if tag not in self._warned:  # a NaN/inf histogram has no bins: skip it, keep the run going
                self._warned.add(tag)
                warnings.warn(
                    f"{type(self).__name__} skips the histogram of {tag!r} at step "
                    f"{_default_step(engine, event_name)}: it holds NaN or infinite values (shown once per name; "
                    "it is skipped whenever it is not finite). TerminateOnNan stops a run whose loss went NaN.",
                    UserWarning,
                    stacklevel=2,
                )
        logger.write_histograms(values, _default_step(engine, event_name))


class GradsHistHandler(WeightsHistHandler):
    """Log a histogram of each parameter's gradient as ``[tag/]grads/<name>`` (TensorBoard only)."""

    kind = "grads"


def writable_folder(folder: str | os.PathLike[str], owner: str) -> Path:
    """Create ``folder`` if needed and check that a file can be created in it; fail now with a clear message."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise PermissionError(
            f"{owner} cannot write to {str(path)!r}: {error.strerror or error}. "
            "Pass a folder that this process can create files in."
        ) from error
    return path


class BaseLogger(ABC):
    """The attach API every logger shares (pytorch-ignite's); a subclass says how to write and close.

    ``attach(engine, handler, event)`` calls ``handler(engine, logger, event)`` each time the event
    fires. The first attach to an engine also flushes the logger after each of its epochs, and
    releases open files when it completes or fails.
    """

    #: Whether ``write_histograms`` stores anything (TensorBoard only).
    supports_histograms = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # a misspelt keyword (``experiment=``) names the closest parameter the constructor has
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            setattr(cls, "__init__", keywords_checked(init))  # noqa: B010

    def __init__(self) -> None:
        #: Whether this process writes (rank 0 only).
        self.writes = get_rank() == 0
        self._closed = False
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        # per (event label, first part of the names), the counters the attached handlers log as steps
        self._step_scales: dict[tuple[str, str | None], set[tuple[int, str] | None]] = {}
        self._started = time.time()

    # ---------------------------------------------------------------- what a logger implements

    @abstractmethod
    def _write(self, values: Mapping[str, float], step: int, event: str) -> None:
        """Record ``values`` (name -> number) at ``step``, logged on ``event`` (its name)."""

    def _write_histograms(self, values: Mapping[str, torch.Tensor], step: int) -> None:
        raise TypeError(f"{type(self).__name__} cannot store histograms.")

    @abstractmethod
    def _close(self) -> None:
        """Flush and release the writer for good."""

    def flush(self) -> None:  # noqa: B027 - most writers have nothing to flush
        """Push what was logged so far to storage (the engines' ``EPOCH_COMPLETED`` calls it)."""

    def _release(self) -> None:
        """Let go of open files at the end of a run (they reopen on the next write)."""
        self.flush()

    # ---------------------------------------------------------------- the shared API

    def write(self, values: Mapping[str, float], step: int, event_name: Any = "") -> None:
        """Record ``values`` (name -> number) at ``step``; what log handlers call."""
        if not self.writes or not values:
            return
        if self._closed:
            raise RuntimeError(
                f"{type(self).__name__} was closed and cannot log {sorted(values)}. Close the logger after the runs "
                "that log to it (or use it as a context manager around them)."
            )
        self._write(values, step, _event_label(event_name))

    def write_histograms(self, values: Mapping[str, torch.Tensor], step: int) -> None:
        """Record a histogram of each tensor at ``step`` (TensorBoard only)."""
        if self.writes and values:
            self._write_histograms(values, step)

    def close(self) -> None:
        """Flush and close the writer; logging afterwards is an error."""
        if not self._closed:
            self._closed = True
            if self.writes:
                self._close()

    def __enter__(self) -> BaseLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def attach(
        self,
        engine: Engine,
        log_handler: Callable[[Engine, BaseLogger, Any], Any],
        event_name: Any,
    ) -> RemovableEventHandle:
        """Call ``log_handler(engine, self, event_name)`` each time ``event_name`` fires on ``engine``.

        Args:
            engine: the engine to log from.
            log_handler: an :class:`OutputHandler`, :class:`OptimizerParamsHandler`, weights or
                gradients handler, or any callable ``(engine, logger, event_name)``.
            event_name: an event, a filtered event (``Events.ITERATION_COMPLETED(every=100)``) or
                several joined with ``|``.

        Returns:
            A handle whose ``remove()`` detaches the handler.
        """
        if not isinstance(engine, Engine):
            raise TypeError(f"engine must be an ember Engine, got {type(engine).__name__}.")
        if not callable(log_handler):
            raise TypeError(
                f"log_handler must be callable as log_handler(engine, logger, event_name), got {log_handler!r}."
            )
        if getattr(log_handler, "writes_histograms", False) and not self.supports_histograms:
            raise TypeError(
                f"{type(log_handler).__name__} writes histograms, which {type(self).__name__} cannot store. "
                "Use WeightsScalarHandler/GradsScalarHandler here, or log histograms with TensorboardLogger."
            )
        events = list(event_name) if isinstance(event_name, EventsList) else [event_name]
        for event in events:
            base = _base_event(event)
            if not engine.has_registered_events(base):
                raise ValueError(
                    f"{event!r} is not an event of this engine. Pass a member of Events, or register custom events "
                    "first with engine.register_events(...)."
                )
            if (
                base not in BUILTIN_EVENT_COUNTERS
                and isinstance(log_handler, BaseHandler)
                and not getattr(log_handler, "custom_step", False)
            ):
                raise ValueError(
                    f"{type(log_handler).__name__} has no step for {_event_label(base)}: only iteration and epoch "
                    "events have one. Use an OutputHandler with global_step_transform=... (for example "
                    "global_step_from_engine(engine, Events.ITERATION_COMPLETED)) for this event."
                )
        if isinstance(log_handler, OutputHandler):
            log_handler.check_engine(engine)
        if not self.writes:
            return RemovableEventHandle(event_name, log_handler, engine)
        if engine not in self._engines:
            self._engines.add(engine)
            engine.add_event_handler(Events.STARTED, self._on_run_started)
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
            engine.add_event_handler(Events.COMPLETED, self._on_run_end)
            engine.add_event_handler(Events.EXCEPTION_RAISED, self._on_run_failed)
        for event in events:
            key = (_event_label(event), _name_prefix(log_handler))
            self._step_scales.setdefault(key, set()).add(_step_scale(log_handler, engine, event))
        handles = [engine.add_event_handler(event, log_handler, self, event) for event in events]
        return handles[0] if len(handles) == 1 else RemovableEventHandle(event_name, log_handler, engine)

    def attach_output_handler(
        self,
        engine: Engine,
        event_name: Any,
        tag: str,
        metric_names: Sequence[str] | str | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        global_step_transform: GlobalStepTransform | None = None,
        state_attributes: Sequence[str] | None = None,
    ) -> RemovableEventHandle:
        """Log metrics, the transformed output and/or state attributes of ``engine`` under ``tag``.

        The arguments are those of :class:`OutputHandler`.
        """
        handler = OutputHandler(tag, metric_names, output_transform, global_step_transform, state_attributes)
        return self.attach(engine, handler, event_name)

    def attach_opt_params_handler(
        self,
        engine: Engine,
        event_name: Any,
        optimizer: torch.optim.Optimizer,
        param_name: str = "lr",
        tag: str | None = None,
    ) -> RemovableEventHandle:
        """Log ``param_name`` of each param group as ``[tag/]param_name/group_<i>``; an OptimizerParamsHandler."""
        return self.attach(engine, OptimizerParamsHandler(optimizer, param_name, tag), event_name)

    # ---------------------------------------------------------------- lifecycle hooks on attached engines

    def _on_run_started(self, engine: Engine) -> None:  # noqa: B027 - only file loggers rewind on resume
        """A run of an attached engine starts (a file logger drops rows past a resumed state here)."""

    def _on_epoch_completed(self, engine: Engine) -> None:
        if not self._closed:
            self.flush()

    def _on_run_end(self, engine: Engine) -> None:
        if not self._closed:
            self._release()

    def _on_run_failed(self, engine: Engine, exception: BaseException) -> None:
        if not self._closed:
            self._release()
