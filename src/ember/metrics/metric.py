"""The :class:`Metric` protocol: declared state, distributed reduction, attaching to an engine, arithmetic."""

from __future__ import annotations

import functools
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events

__all__ = [
    "BatchWise",
    "EpochWise",
    "Metric",
    "MetricUsage",
    "MetricsLambda",
    "NotComputableError",
    "RunningBatchWise",
    "RunningEpochWise",
]

_REDUCTIONS = ("sum", "mean", "min", "max")


class NotComputableError(RuntimeError):
    """Raised by :meth:`Metric.compute` when the metric has no data to compute a value from."""


class MetricUsage:
    """When an attached metric resets, updates and publishes its value: three engine events.

    Args:
        name: the name accepted by :meth:`Metric.attach` as ``usage=name``.
        started: the event at which the metric is reset.
        iteration_completed: the event at which the metric is updated with the engine's output.
        completed: the event at which ``compute()`` is stored in ``engine.state.metrics[name]``.
    """

    def __init__(self, name: str, started: Events, iteration_completed: Events, completed: Events) -> None:
        self.name = name
        self.started = started
        self.iteration_completed = iteration_completed
        self.completed = completed

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EpochWise(MetricUsage):
    """Reset at ``EPOCH_STARTED``, update every ``ITERATION_COMPLETED``, publish at ``EPOCH_COMPLETED``.

    The default usage: ``engine.state.metrics[name]`` holds the value over the whole epoch.
    """

    def __init__(self) -> None:
        super().__init__("epoch_wise", Events.EPOCH_STARTED, Events.ITERATION_COMPLETED, Events.EPOCH_COMPLETED)


class RunningEpochWise(MetricUsage):
    """Reset at ``EPOCH_STARTED``, update and publish at every ``ITERATION_COMPLETED``.

    The value after each iteration covers the epoch so far (``usage="running"``).
    """

    def __init__(self) -> None:
        super().__init__("running", Events.EPOCH_STARTED, Events.ITERATION_COMPLETED, Events.ITERATION_COMPLETED)


class BatchWise(MetricUsage):
    """Reset at ``ITERATION_STARTED``, update and publish at ``ITERATION_COMPLETED``: one batch's value."""

    def __init__(self) -> None:
        super().__init__("batch_wise", Events.ITERATION_STARTED, Events.ITERATION_COMPLETED, Events.ITERATION_COMPLETED)


class RunningBatchWise(MetricUsage):
    """Reset when a run starts afresh, update and publish at every ``ITERATION_COMPLETED``.

    The value covers the whole run so far, across epochs; a run resumed from a checkpoint keeps
    the state loaded with :meth:`Metric.load_state_dict` (``usage="running_batch_wise"``).
    """

    def __init__(self) -> None:
        super().__init__("running_batch_wise", Events.STARTED, Events.ITERATION_COMPLETED, Events.ITERATION_COMPLETED)


_USAGES: dict[str, Callable[[], MetricUsage]] = {
    "epoch_wise": EpochWise,
    "running": RunningEpochWise,
    "batch_wise": BatchWise,
    "running_batch_wise": RunningBatchWise,
}


def _identity(output: Any) -> Any:
    return output


def _describe_value(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def _counting(update: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """``update`` that also counts the call in ``_updates``; a nested ``super().update`` counts once."""

    @functools.wraps(update)
    def counted(self: Metric, output: Any) -> None:
        if self._in_update:
            update(self, output)
            return
        self._in_update = True
        try:
            update(self, output)
        finally:
            self._in_update = False
        self._updates += 1

    counted._counts_updates = True  # type: ignore[attr-defined]
    return counted


class Metric(ABC):
    """A value accumulated over batches: ``reset()``, ``update(output)``, ``compute()``.

    A subclass declares its accumulated state with :meth:`add_state` (a tensor and how ranks combine
    it), implements :meth:`update` with vectorised tensor operations, and :meth:`compute_from`, which
    turns the state, already combined across ranks, into the value. :meth:`compute` does the
    combining: under ``torch.distributed`` every rank gets the value a single process would get on
    the union of the data; under one process no collective is called.

    Args:
        output_transform: picks what the metric sees from ``engine.state.output`` when attached
            (identity by default; ``update`` called by hand receives its argument unchanged).
        device: where the state lives and the updates run; inputs are moved there.

    Example, a metric counting the positive values it sees::

        >>> class Positives(Metric):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.add_state("count", torch.tensor(0), reduction="sum")
        ...     def update(self, output):
        ...         self.count += (output > 0).sum()
        ...     def compute_from(self, state):
        ...         return int(state["count"])
        >>> metric = Positives()
        >>> metric.update(torch.tensor([1.0, -2.0, 3.0]))
        >>> metric.update(torch.tensor([4.0]))
        >>> metric.compute()
        3
    """

    #: The usage :meth:`attach` takes when none is given.
    default_usage: str = "epoch_wise"
    #: States whose shape is set by the data (e.g. a mean of vectors), so loading may change it.
    _shape_free_states: tuple[str, ...] = ()

    def __init__(
        self, output_transform: Callable[[Any], Any] | None = None, device: str | torch.device = "cpu"
    ) -> None:
        if output_transform is not None and not callable(output_transform):
            raise TypeError(
                f"{type(self).__name__} output_transform must be callable, got {type(output_transform).__name__}. "
                "Pass a function of engine.state.output, e.g. output_transform=lambda output: (output[0], output[1])."
            )
        self.output_transform: Callable[[Any], Any] = output_transform or _identity
        try:
            self.device = torch.device(device)
        except (TypeError, RuntimeError) as error:
            raise ValueError(
                f"{type(self).__name__} device must name a torch device such as 'cpu' or 'cuda:0', got {device!r}."
            ) from error
        self._in_update = False
        self._defaults: dict[str, torch.Tensor] = {}
        self._reductions: dict[str, str] = {}
        self._updates = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Count updates for every metric, so that compute() can tell "no data" without each
        # subclass remembering to: each ``update`` a subclass defines is wrapped once.
        super().__init_subclass__(**kwargs)
        update = cls.__dict__.get("update")
        if update is not None and not getattr(update, "_counts_updates", False):
            setattr(cls, "update", _counting(update))  # noqa: B010

    # -- state ---------------------------------------------------------------------------------

    def add_state(self, name: str, default: torch.Tensor, reduction: str | None = "sum") -> None:
        """Declare a state tensor ``self.<name>``, reset to ``default``, combined across ranks by ``reduction``.

        ``reduction`` is ``"sum"``, ``"mean"``, ``"min"``, ``"max"``, or None for a state that stays
        local to each rank. The state is created on the metric's device.
        """
        if not isinstance(default, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__}.add_state({name!r}) needs a tensor default, got {type(default).__name__}. "
                "Wrap the value, e.g. torch.tensor(0)."
            )
        if reduction is not None and reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}.add_state({name!r}) reduction must be one of {list(_REDUCTIONS)} or None, "
                f"got {reduction!r}."
            )
        self._defaults[name] = default.detach().to(self.device)
        if reduction is not None:
            self._reductions[name] = reduction
        setattr(self, name, self._defaults[name].clone())

    def reset(self) -> None:
        """Forget everything seen: every declared state goes back to its default."""
        for name, default in self._defaults.items():
            setattr(self, name, default.clone())
        self._updates = 0

    @abstractmethod
    def update(self, output: Any) -> None:
        """Accumulate one batch's ``output`` (already passed through ``output_transform``)."""

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> Any:
        """Turn the state, combined across ranks, into the metric's value.

        Subclasses that declare state with :meth:`add_state` implement this; those that keep their
        state another way override :meth:`compute` instead.
        """
        raise NotImplementedError(
            f"{type(self).__name__} declares no compute_from(state). Implement compute_from, or override compute()."
        )

    def synced_state(self) -> dict[str, torch.Tensor]:
        """The declared state combined across ranks by each state's reduction (a copy; collective).

        Every rank must call it together. Under one process it is a copy of the local state.
        """
        world_size = distributed.get_world_size()
        state: dict[str, torch.Tensor] = {}
        for name in self._defaults:
            value: torch.Tensor = getattr(self, name)
            reduction = self._reductions.get(name)
            if reduction is None or world_size == 1:
                state[name] = value.clone()
            elif reduction == "mean":
                state[name] = distributed.all_reduce(value, op="sum") / world_size
            else:
                state[name] = distributed.all_reduce(value, op=reduction)
        return state

    def total_updates(self) -> int:
        """How many updates all ranks together made since the last reset (collective when distributed)."""
        if distributed.get_world_size() == 1:
            return self._updates
        return int(distributed.all_reduce(torch.tensor([self._updates], dtype=torch.int64)).item())

    def compute(self) -> Any:
        """The metric's value over everything seen since the last reset, on every rank.

        Raises:
            NotComputableError: if no rank has made an update since the last reset.
        """
        if self.total_updates() == 0:
            raise NotComputableError(
                f"{type(self).__name__} must have at least one update before compute() can give a value. "
                "Call update(output) first, or attach the metric to an engine that runs at least one iteration."
            )
        return self.compute_from(self.synced_state())

    def state_dict(self) -> dict[str, Any]:
        """The accumulated state (this rank's, uncombined) and the update count, for checkpoints."""
        saved: dict[str, Any] = {name: getattr(self, name).detach().clone() for name in self._defaults}
        saved["_updates"] = self._updates
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, so a resumed run continues its partial sums.

        Raises:
            KeyError: if a declared state is missing from ``state_dict``.
            ValueError: if a saved tensor's shape differs from the current one.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict takes a mapping from state_dict(), "
                f"got {type(state_dict).__name__}."
            )
        missing = [name for name in (*self._defaults, "_updates") if name not in state_dict]
        if missing:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict is missing {missing}; it got keys {sorted(state_dict)}. "
                f"Pass a dict saved by {type(self).__name__}.state_dict()."
            )
        for name in self._defaults:
            value = torch.as_tensor(state_dict[name])
            current: torch.Tensor = getattr(self, name)
            fixed = name not in self._shape_free_states and self._defaults[name].numel() > 0
            if fixed and value.shape != current.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict got {name!r} of shape {tuple(value.shape)}, but the metric "
                    f"holds shape {tuple(current.shape)}. Load a state saved by an identically configured metric."
                )
            setattr(self, name, value.to(device=self.device, dtype=current.dtype).clone())
        self._updates = int(state_dict["_updates"])

    # -- input checks shared by the metrics ----------------------------------------------------

    def _unpack_pair(self, output: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``output`` as ``(y_pred, y)`` tensors on the metric's device, or a clear error."""
        if not isinstance(output, (tuple, list)) or len(output) != 2:
            raise ValueError(
                f"{type(self).__name__} expects output (after output_transform) to be a pair (y_pred, y), got "
                f"{_describe_value(output)}. Pass output_transform=lambda output: (y_pred, y) that picks them."
            )
        y_pred, y = output
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(
                f"{type(self).__name__} expects y_pred and y to be tensors, got {type(y_pred).__name__} and "
                f"{type(y).__name__}. Convert them with torch.as_tensor, or fix output_transform."
            )
        return y_pred.detach().to(self.device), y.detach().to(self.device)

    # -- engine wiring -------------------------------------------------------------------------

    def started(self, engine: Engine) -> None:
        """Handler: reset the metric (fired at the usage's ``started`` event)."""
        self.reset()

    def started_fresh_run(self, engine: Engine) -> None:
        """Handler for ``STARTED``: reset unless the run resumes from a loaded position."""
        if engine.state.iteration == 0:
            self.reset()

    def iteration_completed(self, engine: Engine) -> None:
        """Handler: update the metric with ``output_transform(engine.state.output)``."""
        self.update(self.output_transform(engine.state.output))

    def completed(self, engine: Engine, name: str) -> None:
        """Handler: store ``compute()`` in ``engine.state.metrics[name]``.

        A metric whose value is a mapping also stores each of its items under its own key.
        """
        value = self.compute()
        if isinstance(value, Mapping):
            engine.state.metrics.update(value)
        engine.state.metrics[name] = value

    def _resolve_usage(self, usage: str | MetricUsage | None) -> MetricUsage:
        if usage is None:
            usage = self.default_usage
        if isinstance(usage, MetricUsage):
            return usage
        if isinstance(usage, str) and usage in _USAGES:
            return _USAGES[usage]()
        raise ValueError(
            f"{type(self).__name__} usage must be one of {list(_USAGES)} or a MetricUsage, got {usage!r}. "
            "Use 'epoch_wise' for one value per epoch, 'running' for the epoch so far after each iteration."
        )

    def _reset_handler(self, usage: MetricUsage) -> Callable[[Engine], None]:
        return self.started_fresh_run if usage.started == Events.STARTED else self.started

    def attach_updates(self, engine: Engine, usage: MetricUsage) -> None:
        """Register the reset and update handlers of ``usage`` on ``engine``, unless already there.

        A metric shared by several attachments (e.g. the sources of a derived metric also
        attached under their own names) is thus updated once per iteration.
        """
        reset = self._reset_handler(usage)
        if not engine.has_event_handler(reset, usage.started):
            engine.add_event_handler(usage.started, reset)
        if not engine.has_event_handler(self.iteration_completed, usage.iteration_completed):
            engine.add_event_handler(usage.iteration_completed, self.iteration_completed)

    def attach(self, engine: Engine, name: str, usage: str | MetricUsage | None = None) -> None:
        """Attach to ``engine``: its value is stored in ``engine.state.metrics[name]`` per ``usage``.

        ``usage`` is ``"epoch_wise"`` (default for most metrics), ``"running"``, ``"batch_wise"``,
        ``"running_batch_wise"`` or a :class:`MetricUsage`. Handlers run in registration order, so
        handlers added after ``attach`` on the same event see the new value.

        >>> from ember.engine import Engine
        >>> from ember.metrics import Average
        >>> engine = Engine(lambda engine, batch: batch)
        >>> Average().attach(engine, "mean")
        >>> engine.run([1.0, 2.0, 6.0]).metrics["mean"]
        3.0
        """
        if not isinstance(engine, Engine):
            raise TypeError(
                f"{type(self).__name__}.attach needs an ember Engine, got {type(engine).__name__}. "
                "Call metric.attach(engine, name)."
            )
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"{type(self).__name__}.attach needs a non-empty string name, got {name!r}. "
                "The value is stored in engine.state.metrics[name]."
            )
        resolved = self._resolve_usage(usage)
        self.attach_updates(engine, resolved)
        engine.add_event_handler(resolved.completed, self.completed, name)

    def detach_updates(self, engine: Engine, usage: MetricUsage) -> None:
        """Remove the reset and update handlers that :meth:`attach_updates` registered, if there."""
        for event, handler in (
            (usage.started, self._reset_handler(usage)),
            (usage.iteration_completed, self.iteration_completed),
        ):
            if engine.has_event_handler(handler, event):
                engine.remove_event_handler(handler, event)

    def detach(self, engine: Engine, usage: str | MetricUsage | None = None) -> None:
        """Remove this metric's handlers of ``usage`` from ``engine``; a no-op if it is not attached."""
        resolved = self._resolve_usage(usage)
        if engine.has_event_handler(self.completed, resolved.completed):
            engine.remove_event_handler(self.completed, resolved.completed)
        self.detach_updates(engine, resolved)

    def is_attached(self, engine: Engine, usage: str | MetricUsage | None = None) -> bool:
        """Whether this metric publishes its value on ``engine`` with ``usage``."""
        resolved = self._resolve_usage(usage)
        return engine.has_event_handler(self.completed, resolved.completed)

    # -- arithmetic: each operator builds a MetricsLambda ----------------------------------------

    def __add__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.add, self, other)

    def __radd__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.add, other, self)

    def __sub__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.sub, self, other)

    def __rsub__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.sub, other, self)

    def __mul__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.mul, self, other)

    def __rmul__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.mul, other, self)

    def __truediv__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.truediv, self, other)

    def __rtruediv__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.truediv, other, self)

    def __floordiv__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.floordiv, self, other)

    def __mod__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.mod, self, other)

    def __pow__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.pow, self, other)

    def __rpow__(self, other: Any) -> MetricsLambda:
        return MetricsLambda(operator.pow, other, self)

    def __neg__(self) -> MetricsLambda:
        return MetricsLambda(operator.neg, self)

    def __abs__(self) -> MetricsLambda:
        return MetricsLambda(operator.abs, self)

    def __getitem__(self, index: Any) -> MetricsLambda:
        return MetricsLambda(operator.getitem, self, index)


class MetricsLambda(Metric):
    """A metric computed by ``function`` from other metrics' values: ``function(*args, **kwargs)``.

    Arguments that are metrics (ember or torchmetrics) are replaced by their ``compute()``; other
    arguments are passed as they are. Attaching a ``MetricsLambda`` attaches the reset and update
    handlers of its source metrics (once, even if they are attached under their own names too).
    Operators on metrics (``+ - * / // % ** abs``, unary ``-``, indexing) build one.

    >>> from ember.metrics import Precision, Recall
    >>> precision, recall = Precision(), Recall()
    >>> f1 = 2 * precision * recall / (precision + recall)
    >>> f1.update((torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(f1.compute(), 4)  # precision 1/2, recall 1/3
    0.4
    """

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(function):
            raise TypeError(f"MetricsLambda needs a callable function, got {type(function).__name__}.")
        self.function = function
        self.args = [_as_metric_if_metric(value) for value in args]
        self.kwargs = {key: _as_metric_if_metric(value) for key, value in kwargs.items()}
        super().__init__()
        self.default_usage = self._first_source_usage()

    def _first_source_usage(self) -> str:
        for source in self.sources():
            return source.default_usage
        return Metric.default_usage

    def sources(self) -> list[Metric]:
        """The metrics this one is computed from, each once, in argument order."""
        found: list[Metric] = []
        for value in (*self.args, *self.kwargs.values()):
            if isinstance(value, Metric) and all(value is not seen for seen in found):
                found.append(value)
        return found

    def reset(self) -> None:
        """Reset every source metric."""
        super().reset()
        for source in self.sources():
            source.reset()

    def update(self, output: Any) -> None:
        """Update every source metric with ``output`` (used when driving the metric by hand)."""
        for source in self.sources():
            source.update(output)

    def compute(self) -> Any:
        """``function`` applied to the sources' values."""
        args = [value.compute() if isinstance(value, Metric) else value for value in self.args]
        kwargs = {key: value.compute() if isinstance(value, Metric) else value for key, value in self.kwargs.items()}
        return self.function(*args, **kwargs)

    def attach_updates(self, engine: Engine, usage: MetricUsage) -> None:
        """Register the sources' reset and update handlers (each once per engine and usage)."""
        for source in self.sources():
            source.attach_updates(engine, usage)

    def detach_updates(self, engine: Engine, usage: MetricUsage) -> None:
        """Remove the sources' reset and update handlers, except for sources still attached themselves."""
        for source in self.sources():
            # A source also published under its own name (with any usage) keeps the handlers it
            # needs for that: the usages share their update event.
            if not engine.has_event_handler(source.completed):
                source.detach_updates(engine, usage)

    def state_dict(self) -> dict[str, Any]:
        """The sources' states, in :meth:`sources` order."""
        return {"sources": [source.state_dict() for source in self.sources()]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the sources' states saved by :meth:`state_dict`."""
        saved = state_dict.get("sources") if isinstance(state_dict, Mapping) else None
        sources = self.sources()
        if not isinstance(saved, list) or len(saved) != len(sources):
            raise ValueError(
                f"MetricsLambda.load_state_dict needs {{'sources': [...]}} with {len(sources)} states, got "
                f"{_describe_value(state_dict)}. Pass a dict saved by the same derived metric's state_dict()."
            )
        for source, source_state in zip(sources, saved):
            source.load_state_dict(source_state)


def _as_metric_if_metric(value: Any) -> Any:
    """A torchmetrics metric becomes an ember metric; anything else is returned unchanged."""
    from ember.metrics.interop import as_metric, is_torchmetrics_metric

    return as_metric(value) if is_torchmetrics_metric(value) else value
