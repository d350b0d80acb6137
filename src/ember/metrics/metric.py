"""The :class:`Metric` protocol: declared state, distributed reduction, attaching to an engine, arithmetic.

ignite's path for the metric protocol: the usages (:class:`MetricUsage`, :class:`EpochWise`, ...)
and ignite's decorators (:func:`reinit__is_reduced`, :func:`sync_all_reduce`) live in their own
modules and are importable from here too, as :class:`MetricsLambda` is.
"""

from __future__ import annotations

import functools
import numbers
import operator
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.exceptions import NotComputableError
from ember.metrics._checks import check_callable, keywords_checked
from ember.metrics._sync import reinit__is_reduced, sync_all_reduce
from ember.metrics._usage import (
    _USAGES,
    BatchFiltered,
    BatchWise,
    EpochWise,
    MetricUsage,
    RunningBatchWise,
    RunningEpochWise,
    SingleEpochRunningBatchWise,
)

__all__ = [
    "BatchFiltered",
    "BatchWise",
    "EpochWise",
    "Metric",
    "MetricUsage",
    "MetricsLambda",
    "NotComputableError",
    "RunningBatchWise",
    "RunningEpochWise",
    "SingleEpochRunningBatchWise",
    "reinit__is_reduced",
    "sync_all_reduce",
]

_REDUCTIONS = ("sum", "mean", "min", "max")
_RESULT_MODES = ("flatten", "named", "both")
# ignite's key of a metric's state dict: the list of every rank's state.
_PER_RANK_KEY = "__metric_state_per_rank"
# The states ignite keeps as Python integers (its example counts); its other counts are tensors.
_IGNITE_INTEGER_STATES = frozenset({"_num_examples", "num_examples"})


def _identity(output: Any) -> Any:
    return output


def _describe_value(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def _compact(default: torch.Tensor) -> torch.Tensor:
    """``default`` as :meth:`Metric.reset` keeps it: a tensor of one value (zeros) is one element, expanded.

    A metric's state and its default would otherwise hold two full copies (a ConfusionMatrix of
    10,000 classes: 800 MB each); ``clone()`` of the expanded view makes a full, writable tensor.
    """
    if default.numel() <= 1:
        return default
    first = default.reshape(-1)[:1]
    if not bool((default == first).all()):
        return default
    return first.reshape([1] * default.dim()).expand(default.shape)


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


def _is_sequence_of_values(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, (torch.Tensor, numbers.Number)) for item in value)


def _as_batch(value: Any) -> torch.Tensor:
    """One sample as a batch of one: a tensor gets a leading dimension, a number becomes a 1-element tensor."""
    return value.unsqueeze(0) if isinstance(value, torch.Tensor) else torch.tensor([value])


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
        metrics_result_mode: where :meth:`completed` stores a value that is a dict: ``"both"``
            (default: each item under its own key, and the dict under the metric's name),
            ``"flatten"`` (the items only) or ``"named"`` (the dict only), as ignite's.
        skip_unrolling: as ignite's: when False (default), an attached metric whose output is a pair
            of lists ``([y_pred_1, ...], [y_1, ...])`` (per-sample tensors of varying sizes) is
            updated once per sample; True passes such an output to ``update`` unchanged (for a
            multi-output model whose ``y_pred`` is a tuple of tensors).

    An attached metric given a dict output (after ``output_transform``) picks the keys named by
    the class attribute ``required_output_keys`` (``("y_pred", "y")``), as ignite's metrics do.
    ``Metric.__init__`` calls ``reset()``, as ignite's does, so a subclass written the ignite way
    (state set in ``reset``, a ``compute`` decorated with :func:`sync_all_reduce`) works too.

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
    #: The keys an attached metric picks, in order, from a dict output; None passes dicts on unchanged.
    required_output_keys: tuple[str, ...] | None = ("y_pred", "y")
    #: Keys of ``required_output_keys`` that a dict output may leave out.
    _optional_output_keys: tuple[str, ...] = ()
    #: States whose shape is set by the data (e.g. a mean of vectors), so loading may change it.
    _shape_free_states: tuple[str, ...] = ()
    #: ignite's attribute names of the states ignite's metric of the same kind has, used in state dicts.
    _ignite_state_names: ClassVar[Mapping[str, str]] = {}

    @keywords_checked
    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        metrics_result_mode: str = "both",
    ) -> None:
        if metrics_result_mode not in _RESULT_MODES:
            raise ValueError(
                f"{type(self).__name__} metrics_result_mode must be one of {list(_RESULT_MODES)}, got "
                f"{metrics_result_mode!r}. 'both' stores a dict value's items and the dict itself."
            )
        self._metrics_result_mode = metrics_result_mode
        if output_transform is not None:
            check_callable(
                output_transform, type(self).__name__, "output_transform", "output_transform(engine.state.output)", 1
            )
        self.output_transform: Callable[[Any], Any] = output_transform or _identity
        try:
            self.device = torch.device(device)
        except (TypeError, RuntimeError) as error:
            raise ValueError(
                f"{type(self).__name__} device must name a torch device such as 'cpu' or 'cuda:0', got {device!r}."
            ) from error
        if not isinstance(skip_unrolling, bool):
            raise TypeError(f"{type(self).__name__} skip_unrolling must be True or False, got {skip_unrolling!r}.")
        self._skip_unrolling = skip_unrolling
        self._in_update = False
        self._is_reduced = False
        self._defaults: dict[str, torch.Tensor] = {}
        self._reductions: dict[str, str] = {}
        self._updates = 0
        self.reset()

    @property
    def _output_transform(self) -> Callable[[Any], Any]:
        """ignite's name for :attr:`output_transform`."""
        return self.output_transform

    @_output_transform.setter
    def _output_transform(self, function: Callable[[Any], Any]) -> None:
        self.output_transform = function

    @property
    def _device(self) -> torch.device:
        """ignite's name for :attr:`device` (custom metrics written from ignite's docs read it)."""
        return self.device

    @_device.setter
    def _device(self, device: str | torch.device) -> None:
        self.device = torch.device(device)

    def __getattr__(self, name: str) -> Any:
        # ignite's metric arithmetic: ``metric.mean()``, ``metric.item()``, ... build a MetricsLambda
        # that calls the tensor method on the value. Only reached for attributes the metric lacks.
        if name.startswith("_") or not callable(getattr(torch.Tensor, name, None)):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        def method_of_value(*args: Any, **kwargs: Any) -> MetricsLambda:
            return MetricsLambda(_call_method, self, name, args, kwargs)

        method_of_value.__name__ = name
        return method_of_value

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Count updates for every metric, so that compute() can tell "no data" without each
        # subclass remembering to: each ``update`` a subclass defines is wrapped once.
        super().__init_subclass__(**kwargs)
        update = cls.__dict__.get("update")
        if update is not None and not getattr(update, "_counts_updates", False):
            setattr(cls, "update", _counting(update))  # noqa: B010
        # A misspelt keyword (``threshhold=``) names the closest parameter the constructor has.
        init = cls.__dict__.get("__init__")
        if init is not None:
            setattr(cls, "__init__", keywords_checked(init))  # noqa: B010

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
        self._defaults[name] = _compact(default.detach().to(self.device))
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
        """Every rank's accumulated state, for checkpoints: ``{"__metric_state_per_rank": [rank 0's, ...]}``.

        This is ignite's format: under ``torch.distributed`` the ranks' states are gathered (a
        collective: every rank must call it), so a checkpoint written by rank 0 holds them all,
        and :meth:`load_state_dict` gives each rank back its own partial sums. Each rank's entry
        maps state names to values; for the metrics ignite also has, the names and value types
        are ignite's (e.g. ``"_sum"`` and ``"_num_examples"`` for :class:`~ember.metrics.Loss`),
        so ignite's saved metric states load into ember and ember's into ignite. ember adds the
        update count ``"_updates"``, which ignite ignores.
        """
        state = self._state_dict_per_rank()
        if distributed.get_world_size() > 1:
            return OrderedDict([(_PER_RANK_KEY, distributed.all_gather(state))])
        return OrderedDict([(_PER_RANK_KEY, [state])])

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved: each rank loads its own entry, and continues its partial sums.

        A dict saved by ignite's metric of the same kind loads too, and so does ember's earlier
        format (one rank's state, not wrapped in a per-rank list).

        Raises:
            ValueError: if the saved per-rank list does not have one entry per rank, or a saved
                tensor's shape differs from the current one.
            KeyError: if a declared state is missing.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict takes a mapping from state_dict(), "
                f"got {type(state_dict).__name__}."
            )
        if _PER_RANK_KEY not in state_dict:
            # ember's earlier format: one rank's state, loaded as it is on every rank.
            self._load_state_dict_per_rank(state_dict)
            return
        per_rank = state_dict[_PER_RANK_KEY]
        world_size = distributed.get_world_size()
        if len(state_dict) != 1 or not isinstance(per_rank, (list, tuple)) or len(per_rank) != world_size:
            got = f"{len(per_rank)} entries" if isinstance(per_rank, (list, tuple)) else _describe_value(per_rank)
            raise ValueError(
                f"{type(self).__name__}.load_state_dict needs {{{_PER_RANK_KEY!r}: [...]}} with one state per rank "
                f"({world_size}), got keys {sorted(state_dict)} and {got}. Load a state saved by state_dict() "
                "with the same number of processes."
            )
        self._load_state_dict_per_rank(per_rank[distributed.get_rank()])

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """This rank's state: the declared states (under ignite's names where it has them) and the update count."""
        saved: dict[str, Any] = OrderedDict()
        for name in self._defaults:
            value: torch.Tensor = getattr(self, name).detach().clone()
            ignite_name = self._ignite_state_names.get(name)
            if ignite_name is None:
                saved[name] = value
            elif ignite_name in _IGNITE_INTEGER_STATES:
                saved[ignite_name] = int(value)
            else:
                saved[ignite_name] = value
        saved["_updates"] = self._updates
        return saved

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore one rank's state saved by :meth:`_state_dict_per_rank` (or by ignite, or ember's earlier format)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict takes a mapping from state_dict(), "
                f"got {type(state_dict).__name__}."
            )

        def key(name: str) -> str:
            ignite_name = self._ignite_state_names.get(name)
            return ignite_name if ignite_name is not None and ignite_name in state_dict else name

        missing = [key(name) for name in self._defaults if key(name) not in state_dict]
        if missing:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict is missing {missing}; it got keys {sorted(state_dict)}. "
                f"Pass a dict saved by {type(self).__name__}.state_dict()."
            )
        loaded: dict[str, torch.Tensor] = {}
        for name in self._defaults:
            value = torch.as_tensor(state_dict[key(name)])
            current: torch.Tensor = getattr(self, name)
            fixed = name not in self._shape_free_states and self._defaults[name].numel() > 0
            if fixed and value.shape != current.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict got {key(name)!r} of shape {tuple(value.shape)}, but the "
                    f"metric holds shape {tuple(current.shape)}. Load a state saved by an identically configured "
                    "metric."
                )
            # A state shaped by the data keeps the saved float dtype too (e.g. a float32 running average).
            dtype = value.dtype if not fixed and value.is_floating_point() else current.dtype
            loaded[name] = value.to(device=self.device, dtype=dtype).clone()
        for name, value in loaded.items():
            setattr(self, name, value)
        if "_updates" in state_dict:
            self._updates = int(state_dict["_updates"])
        else:
            # ignite saves no update count: a state that moved from its defaults has seen updates.
            self._updates = int(
                any(
                    value.shape != self._defaults[name].shape or bool((value != self._defaults[name]).any())
                    for name, value in loaded.items()
                )
            )

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
        """Handler: update the metric with ``output_transform(engine.state.output)``.

        A dict output gives the values of :attr:`required_output_keys`, in order; a pair of lists
        of per-sample values is fed one sample at a time unless ``skip_unrolling`` was set.
        """
        output = self.output_transform(engine.state.output)
        if isinstance(output, Mapping) and self.required_output_keys is not None:
            output = self._pick_output_keys(output)
        if (
            not self._skip_unrolling
            and isinstance(output, (tuple, list))
            and len(output) == 2
            and _is_sequence_of_values(output[0])
            and _is_sequence_of_values(output[1])
        ):
            y_pred, y = output
            if len(y_pred) != len(y):
                raise ValueError(
                    f"{type(self).__name__} got y_pred and y as lists of {len(y_pred)} and {len(y)} samples. Give "
                    "both lists one item per sample, or pass skip_unrolling=True to hand the pair to update() as is."
                )
            for sample_pred, sample_y in zip(y_pred, y):
                self.update((_as_batch(sample_pred), _as_batch(sample_y)))
            return
        self.update(output)

    def _pick_output_keys(self, output: Mapping[Any, Any]) -> tuple[Any, ...]:
        keys = self.required_output_keys or ()
        missing = [key for key in keys if key not in output and key not in self._optional_output_keys]
        if missing:
            raise ValueError(
                f"{type(self).__name__} got a dict output with keys {list(output)}, but needs the keys {list(keys)} "
                f"(missing {missing}). Return them from the process function, or pass output_transform that picks "
                "them, e.g. output_transform=lambda output: (output['y_pred'], output['y'])."
            )
        return tuple(output[key] for key in keys if key in output)

    def completed(self, engine: Engine, name: str) -> None:
        """Handler: store ``compute()`` in ``engine.state.metrics[name]``.

        A 0-dimensional tensor is stored as a Python number (as ignite does). A value that is a
        mapping is stored per ``metrics_result_mode``: by default under ``name`` and, item by item,
        under its own keys.
        """
        value = self.compute()
        if isinstance(value, torch.Tensor) and value.dim() == 0:
            value = value.item()
        if isinstance(value, Mapping):
            if self._metrics_result_mode != "named":
                engine.state.metrics.update(value)
            if self._metrics_result_mode == "flatten":
                return
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
    >>> round(float(f1.compute()), 4)  # precision 1/2, recall 1/3
    0.4
    """

    required_output_keys = None

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(function):
            raise TypeError(f"MetricsLambda needs a callable function, got {type(function).__name__}.")
        self.function = function
        # Sources are set after Metric.__init__, whose reset() would otherwise wipe what they hold.
        self.args: list[Any] = []
        self.kwargs: dict[str, Any] = {}
        super().__init__()
        self.args = [_as_metric_if_metric(value) for value in args]
        self.kwargs = {key: _as_metric_if_metric(value) for key, value in kwargs.items()}
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

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """This rank's states of the sources, in :meth:`sources` order."""
        return {"sources": [source._state_dict_per_rank() for source in self.sources()]}

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore this rank's states of the sources saved by :meth:`_state_dict_per_rank`."""
        saved = state_dict.get("sources") if isinstance(state_dict, Mapping) else None
        sources = self.sources()
        if not isinstance(saved, list) or len(saved) != len(sources):
            raise ValueError(
                f"MetricsLambda.load_state_dict needs {{'sources': [...]}} with {len(sources)} states, got "
                f"{_describe_value(state_dict)}. Pass a dict saved by the same derived metric's state_dict()."
            )
        for source, source_state in zip(sources, saved):
            if isinstance(source_state, Mapping) and _PER_RANK_KEY in source_state:
                source.load_state_dict(source_state)  # ember's earlier format held each source's own state_dict()
            else:
                source._load_state_dict_per_rank(source_state)


def _call_method(value: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``value.name(*args, **kwargs)``: the function behind ``metric.mean()`` and its kind."""
    return getattr(value, name)(*args, **kwargs)


def _as_metric_if_metric(value: Any) -> Any:
    """A torchmetrics metric becomes an ember metric; anything else is returned unchanged."""
    from ember.metrics.interop import as_metric, is_torchmetrics_metric

    return as_metric(value) if is_torchmetrics_metric(value) else value
