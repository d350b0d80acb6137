"""Averaging metrics: the mean of a loss, of any per-iteration value, and exponential moving averages.

The values :class:`Average`, :class:`GeometricAverage` and :class:`VariableAccumulation` take are
read as ignite reads them: a number or 0-dimensional tensor is one value, a 1-dimensional tensor
of shape ``(F,)`` is one value too (a vector, averaged feature by feature), and a tensor of shape
``(N, F, ...)`` holds ``N`` values of shape ``(F, ...)``.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.engine import Engine, Events
from ember.metrics.metric import EpochWise, Metric, MetricUsage, _describe_value

__all__ = ["Average", "GeometricAverage", "Loss", "RunningAverage", "VariableAccumulation"]


def _value_or_tensor(value: torch.Tensor) -> float | torch.Tensor:
    return float(value) if value.dim() == 0 else value


class Loss(Metric):
    """The mean of ``loss_fn(y_pred, y)`` over samples, each batch weighted by its size.

    ``Loss = Σ_batches loss_fn(y_pred, y) · batch_size(y) / Σ_batches batch_size(y)``.

    ``output`` is ``(y_pred, y)`` or ``(y_pred, y, kwargs)``, the dict ``kwargs`` being passed on to
    ``loss_fn``; attached, a dict output gives its ``"y_pred"``, ``"y"`` and (if present)
    ``"criterion_kwargs"`` items. ``loss_fn`` must return the batch's mean loss as a
    0-dimensional tensor.

    Args:
        loss_fn: e.g. ``torch.nn.functional.cross_entropy`` or an ``nn.Module`` loss.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        batch_size: how many samples a target ``y`` holds (``len`` by default).

    >>> loss = Loss(torch.nn.functional.mse_loss)
    >>> loss.update((torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0])))
    >>> loss.update((torch.tensor([3.0]), torch.tensor([0.0])))
    >>> loss.compute()  # (2 * 1.0 + 1 * 9.0) / 3
    3.6666666666666665
    """

    required_output_keys = ("y_pred", "y", "criterion_kwargs")
    _optional_output_keys = ("criterion_kwargs",)
    _ignite_state_names: ClassVar[Mapping[str, str]] = {"loss_sum": "_sum", "count": "_num_examples"}

    def __init__(
        self,
        loss_fn: Callable[..., torch.Tensor],
        output_transform: Callable[[Any], Any] | None = None,
        batch_size: Callable[[Any], int] = len,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(f"Loss needs a callable loss_fn(y_pred, y), got {type(loss_fn).__name__}.")
        if not callable(batch_size):
            raise TypeError(
                f"Loss batch_size must be a callable (y) -> int, got {batch_size!r} ({type(batch_size).__name__}). "
                "Pass e.g. batch_size=len, or batch_size=lambda y: y.shape[0]."
            )
        super().__init__(output_transform, device, skip_unrolling)
        self.loss_fn = loss_fn
        self.batch_size = batch_size
        # The sum is kept as ignite keeps it, in torch's default float dtype (float32), so the values
        # (and what is compared with them, e.g. by EarlyStopping) are the same to the last bit.
        self.add_state("loss_sum", torch.tensor(0.0), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.loss_sum: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's loss, weighted by its size."""
        kwargs: dict[str, Any] = {}
        if isinstance(output, (tuple, list)) and len(output) == 3:
            y_pred, y, kwargs = output
            if not isinstance(kwargs, Mapping):
                raise TypeError(
                    f"Loss expects the third item of (y_pred, y, kwargs) to be a dict of keyword arguments for "
                    f"loss_fn, got {type(kwargs).__name__}."
                )
        elif isinstance(output, (tuple, list)) and len(output) == 2:
            # Not necessarily tensors: a multi-output model's loss takes tuples (with skip_unrolling=True).
            y_pred, y = output
        else:
            y_pred, y = self._unpack_pair(output)  # raises the shared "expects a pair" error
        with torch.no_grad():  # a metric needs the value, not an autograd graph kept alive behind it
            value = self.loss_fn(y_pred, y, **kwargs)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ValueError(
                f"Loss expects loss_fn to return a 0-dimensional tensor (the batch's mean loss), got "
                f"{_describe_value(value)}. Use a loss with reduction='mean'."
            )
        size = self.batch_size(y)
        self.loss_sum += value.detach().to(self.device) * size
        self.count += size

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean loss per sample."""
        return float(state["loss_sum"]) / max(int(state["count"]), 1)


def _as_float64(owner: str, value: Any, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(device=device, dtype=torch.float64)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64, device=device)
    raise TypeError(
        f"{owner} expects a number or a tensor, got {type(value).__name__}. Pass output_transform that picks a "
        "number or tensor from engine.state.output."
    )


def _values_and_count(value: torch.Tensor) -> tuple[torch.Tensor, int, tuple[int, ...]]:
    """``(sum over the values, number of values, shape of one value)`` per ignite's reading."""
    if value.dim() >= 2:
        return value.sum(dim=0), value.shape[0], tuple(value.shape[1:])
    return value, 1, tuple(value.shape)


class VariableAccumulation(Metric):
    """An accumulator ``op(accumulator, value)`` over the values given, and how many there were.

    ``compute()`` returns ``(accumulator, num_examples)``: the accumulator (a float64 tensor,
    starting at 0) and the number of values (a tensor ``(N, ...)`` counts ``N``, anything else 1).
    Under ``torch.distributed`` the ranks' accumulators and counts are summed, so ``op`` should
    add something to the accumulator.

    Args:
        op: ``op(accumulator, value) -> new accumulator``, both float64 tensors on ``device``.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> total = VariableAccumulation(lambda accumulator, value: accumulator + value.sum())
    >>> total.update(torch.tensor([1.0, 4.0]))
    >>> total.update(2.0)
    >>> total.compute()
    (tensor(7., dtype=torch.float64), 2)
    """

    required_output_keys = None
    _shape_free_states = ("accumulator",)
    _ignite_state_names: ClassVar[Mapping[str, str]] = {"accumulator": "accumulator", "num_examples": "num_examples"}

    def __init__(
        self,
        op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if not callable(op):
            raise TypeError(
                f"VariableAccumulation op must be callable as op(accumulator, value), got {type(op).__name__}."
            )
        super().__init__(output_transform, device, skip_unrolling)
        self._op = op
        self.add_state("accumulator", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("num_examples", torch.tensor(0), reduction="sum")
        self.accumulator: torch.Tensor
        self.num_examples: torch.Tensor

    def update(self, output: Any) -> None:
        """Apply ``op`` to the accumulator and the value; count the values."""
        value = _as_float64(type(self).__name__, output, self.device)
        result = self._op(self.accumulator, value)
        if not isinstance(result, torch.Tensor):
            raise TypeError(
                f"VariableAccumulation op must return a tensor (the new accumulator), got {type(result).__name__}."
            )
        self.accumulator = result.to(device=self.device, dtype=torch.float64)
        self.num_examples += value.shape[0] if value.dim() >= 2 else 1

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> Any:
        """``(accumulator, num_examples)``."""
        return state["accumulator"], int(state["num_examples"])


class Average(Metric):
    """The mean of the values it is given: ``Σ values / number of values``.

    A number or 0-dimensional tensor counts as one value, a 1-dimensional tensor ``(F,)`` as one
    vector value, and a tensor of shape ``(N, F, ...)`` as ``N`` values of shape ``(F, ...)``: the
    mean of vectors is taken feature by feature (as ignite's ``Average``). Keep one value shape
    per metric between resets. The value is a float64 tensor, 0-dimensional for numbers (as
    ignite's; attached to an engine, ``engine.state.metrics`` holds it as a float).

    >>> average = Average()
    >>> average.update(1.0)
    >>> average.update(torch.tensor(2.0))
    >>> average.update(6.0)
    >>> average.compute()
    tensor(3., dtype=torch.float64)
    >>> rows = Average()
    >>> rows.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # two vectors
    >>> rows.compute()
    tensor([2., 3.], dtype=torch.float64)
    """

    required_output_keys = None
    _shape_free_states = ("total",)
    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "accumulator", "count": "num_examples"}

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def _transform(self, value: torch.Tensor) -> torch.Tensor:
        """What is averaged, from a value (subclasses average e.g. logarithms)."""
        return value

    def update(self, output: Any) -> None:
        """Add one value, or a batch of values along the first dimension."""
        value = _as_float64(type(self).__name__, output, self.device)
        batch_sum, count, shape = _values_and_count(self._transform(value))
        if self._updates and tuple(self.total.shape) != shape:
            if not shape:
                raise ValueError(
                    f"{type(self).__name__} got a single number after values of shape {tuple(self.total.shape)}. "
                    "Keep one shape between resets: pass a tensor of that value shape, or use another metric."
                )
            raise ValueError(
                f"{type(self).__name__} got values of shape {shape} (a tensor {tuple(value.shape)}) after values "
                f"of shape {tuple(self.total.shape)}. Keep one shape between resets."
            )
        self.total = self.total + batch_sum
        self.count += count

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float | torch.Tensor:
        """The mean, a float64 tensor (0-dimensional for scalar values)."""
        return state["total"] / state["count"].clamp(min=1)


class GeometricAverage(Average):
    """The geometric mean of the values it is given: ``exp(Σ log(values) / number of values)``.

    Values are read as :class:`Average` reads them (vectors feature by feature) and must be
    positive (a zero gives 0, a negative value ``nan``). The value is a float when it has one
    element (a scalar, or vectors of one feature), a float64 tensor otherwise, as ignite's.

    >>> geometric = GeometricAverage()
    >>> geometric.update(torch.tensor([[1.0, 4.0], [4.0, 1.0]]))
    >>> geometric.compute()
    tensor([2., 2.], dtype=torch.float64)
    """

    def _transform(self, value: torch.Tensor) -> torch.Tensor:
        return value.log()

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float | torch.Tensor:
        """The geometric mean: a float when it has one element, a tensor otherwise."""
        mean = (state["total"] / state["count"].clamp(min=1)).exp()
        return float(mean) if mean.numel() == 1 else mean


class RunningAverage(Metric):
    """An exponential moving average: ``value = alpha * value + (1 - alpha) * x`` after each update.

    ``x`` is the number or tensor it is given (``output_transform(engine.state.output)`` when
    attached) or, with ``src``, the value of the metric ``src`` on the current batch alone (``src``
    is reset and updated each iteration; a copy of it is, so the metric passed as ``src`` keeps its
    own values and may also be attached by itself). The first ``x`` starts the average. Attached, it is
    published after every iteration and keeps averaging across epochs (``"running_batch_wise"``
    usage); a run resumed from a checkpoint keeps the loaded average.

    ``value_1 = x_1``, then ``value_t = alpha · value_(t-1) + (1 - alpha) · x_t``.

    Args:
        src: an ember or torchmetrics metric to average; None to average the output itself.
        alpha: the weight of the past, in ``(0, 1]`` (as ignite's; 1 keeps the first value).
        output_transform: picks ``x`` from the output; with ``src``, ``src``'s own transform is used.
        epoch_bound: ignite's switch: True restarts the average at every epoch (the usage
            ``"running"``); False or None keeps it across epochs (``"running_batch_wise"``). A
            ``usage=`` given to :meth:`attach` takes precedence.
        device, skip_unrolling: see :class:`~ember.metrics.Metric` (None means the CPU).

    >>> running = RunningAverage(alpha=0.5)
    >>> for loss in (4.0, 2.0, 1.0):
    ...     running.update(loss)
    >>> running.compute()  # ((4 * 0.5 + 2 * 0.5) * 0.5 + 1 * 0.5)
    2.0
    """

    default_usage = "running_batch_wise"
    _shape_free_states = ("average",)

    def __init__(
        self,
        src: Any = None,
        alpha: float = 0.98,
        output_transform: Callable[[Any], Any] | None = None,
        epoch_bound: bool | None = None,
        device: str | torch.device | None = None,
        skip_unrolling: bool = False,
    ) -> None:
        if epoch_bound is not None and not isinstance(epoch_bound, bool):
            raise TypeError(f"RunningAverage epoch_bound must be True, False or None, got {epoch_bound!r}.")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise TypeError(
                f"RunningAverage alpha must be a number in (0, 1], got {alpha!r} "
                f"({type(alpha).__name__}). Pass e.g. alpha=0.98."
            )
        if not 0.0 < alpha <= 1.0:
            raise ValueError(
                f"RunningAverage alpha must be a number in (0, 1], got alpha={alpha!r}. Pass e.g. alpha=0.98."
            )
        source: Metric | None = None
        if src is not None:
            from ember.metrics.interop import as_metric

            # A private copy: resetting src every iteration must not wipe the values of the metric
            # the user passed, which may also be attached under its own name.
            source = copy.deepcopy(as_metric(src))
            if output_transform is not None:
                raise ValueError(
                    "RunningAverage got both src and output_transform; with src, the source metric's own "
                    "output_transform picks its input. Pass output_transform to the source metric instead."
                )
            output_transform = source.output_transform
        super().__init__(output_transform, "cpu" if device is None else device, skip_unrolling)
        if epoch_bound:
            self.default_usage = "running"
        # Without src the output itself is averaged; with src, src picks from a dict output.
        self.required_output_keys = source.required_output_keys if source is not None else None
        self.src = source
        self.alpha = float(alpha)
        self.add_state("average", torch.tensor(0.0, dtype=torch.float64), reduction="mean")
        self.average: torch.Tensor
        self._tensor_values = False

    def reset(self) -> None:
        """Forget the average (the next value starts it again)."""
        super().reset()
        self._tensor_values = False

    def update(self, output: Any) -> None:
        """Move the average towards ``output`` (or towards ``src``'s value on ``output``)."""
        if self.src is not None:
            self.src.reset()
            self.src.update(output)
            output = self.src.compute()
        self._move_towards(output)

    def _move_towards(self, output: Any) -> None:
        value: torch.Tensor | float
        if isinstance(output, torch.Tensor):
            self._tensor_values = True  # the value is a tensor then, as ignite's (a float for numbers)
            # In the tensor's own float dtype, as ignite averages it (a float32 loss stays float32, to
            # the last bit); integers become floats, as ignite's division by the world size makes them.
            value = output.detach().to(self.device)
            if not value.is_floating_point():
                value = value / 1
        else:
            value = float(_as_float64("RunningAverage", output, self.device))
        if self._updates == 0:
            self.average = torch.as_tensor(value, dtype=None if isinstance(value, torch.Tensor) else torch.float64)
            self.average = self.average.to(self.device, copy=True)
        else:
            self.average = self.average * self.alpha + value * (1.0 - self.alpha)

    def _epoch_source(self, usage: MetricUsage) -> Metric | None:
        """``src`` if it is read once per epoch (ignite's ``running_epoch_wise`` with a source), else None."""
        return self.src if usage.iteration_completed == Events.EPOCH_COMPLETED else None

    def epoch_completed(self, engine: Engine) -> None:
        """Handler (``running_epoch_wise`` usage with ``src``): move towards src's value over the epoch."""
        if self.src is None:
            raise RuntimeError("RunningAverage.epoch_completed averages a source metric; this one has no src.")
        self._move_towards(self.src.compute())
        self._updates += 1

    def attach_updates(self, engine: Engine, usage: MetricUsage) -> None:
        """Register the handlers of ``usage``; with ``src`` and ``"running_epoch_wise"``, src's epoch-wise ones.

        With that usage, as in ignite, the source metric accumulates over each epoch (reset at
        ``EPOCH_STARTED``, updated every iteration) and the average moves once per epoch towards
        its value; otherwise the average moves towards the source's value on each update's batch.
        """
        source = self._epoch_source(usage)
        if source is None:
            super().attach_updates(engine, usage)
            return
        source.attach_updates(engine, EpochWise())
        reset = self._reset_handler(usage)
        if not engine.has_event_handler(reset, usage.started):
            engine.add_event_handler(usage.started, reset)
        if not engine.has_event_handler(self.epoch_completed, Events.EPOCH_COMPLETED):
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def detach_updates(self, engine: Engine, usage: MetricUsage) -> None:
        """Remove what :meth:`attach_updates` registered for ``usage``."""
        source = self._epoch_source(usage)
        if source is None:
            super().detach_updates(engine, usage)
            return
        source.detach_updates(engine, EpochWise())
        for event, handler in (
            (usage.started, self._reset_handler(usage)),
            (Events.EPOCH_COMPLETED, self.epoch_completed),
        ):
            if engine.has_event_handler(handler, event):
                engine.remove_event_handler(handler, event)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float | torch.Tensor:
        """The current average: a float when it averages numbers, a tensor of the values' dtype otherwise."""
        if self._tensor_values:
            return state["average"]
        return _value_or_tensor(state["average"])
