"""Averaging metrics: the mean of a loss, of any per-iteration value, and exponential moving averages."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.metrics.metric import Metric, _describe_value

__all__ = ["Average", "Loss", "RunningAverage"]


def _value_or_tensor(value: torch.Tensor) -> float | torch.Tensor:
    return float(value) if value.dim() == 0 else value


class Loss(Metric):
    """The mean of ``loss_fn(y_pred, y)`` over samples, each batch weighted by its size.

    ``output`` is ``(y_pred, y)`` or ``(y_pred, y, kwargs)``, the dict ``kwargs`` being passed on to
    ``loss_fn``. ``loss_fn`` must return the batch's mean loss as a 0-dimensional tensor.

    Args:
        loss_fn: e.g. ``torch.nn.functional.cross_entropy`` or an ``nn.Module`` loss.
        batch_size: how many samples a target ``y`` holds (``len`` by default).
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> loss = Loss(torch.nn.functional.mse_loss)
    >>> loss.update((torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0])))
    >>> loss.update((torch.tensor([3.0]), torch.tensor([0.0])))
    >>> loss.compute()  # (2 * 1.0 + 1 * 9.0) / 3
    3.6666666666666665
    """

    def __init__(
        self,
        loss_fn: Callable[..., torch.Tensor],
        output_transform: Callable[[Any], Any] | None = None,
        batch_size: Callable[[Any], int] = len,
        device: str | torch.device = "cpu",
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(f"Loss needs a callable loss_fn(y_pred, y), got {type(loss_fn).__name__}.")
        if not callable(batch_size):
            raise TypeError(
                f"Loss batch_size must be a callable (y) -> int, got {batch_size!r} ({type(batch_size).__name__}). "
                "Pass e.g. batch_size=len, or batch_size=lambda y: y.shape[0]."
            )
        super().__init__(output_transform, device)
        self.loss_fn = loss_fn
        self.batch_size = batch_size
        self.add_state("loss_sum", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
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
        else:
            y_pred, y = self._unpack_pair(output)
        with torch.no_grad():  # a metric needs the value, not an autograd graph kept alive behind it
            value = self.loss_fn(y_pred, y, **kwargs)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise ValueError(
                f"Loss expects loss_fn to return a 0-dimensional tensor (the batch's mean loss), got "
                f"{_describe_value(value)}. Use a loss with reduction='mean'."
            )
        size = self.batch_size(y)
        self.loss_sum += value.detach().to(self.device, torch.float64) * size
        self.count += size

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean loss per sample."""
        return float(state["loss_sum"]) / max(int(state["count"]), 1)


def _as_float64(owner: str, value: Any, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(device=device, dtype=torch.float64)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64, device=device)
    raise TypeError(
        f"{owner} expects a number or a tensor, got {type(value).__name__}. Pass output_transform that picks a "
        "number or tensor from engine.state.output."
    )


class Average(Metric):
    """The mean of the values it is given.

    A number or 0-dimensional tensor counts as one value; a tensor of shape ``(N, ...)`` counts as
    ``N`` values of shape ``(...)``, whose mean is a tensor of that shape. Keep one shape per
    metric between resets.

    >>> average = Average()
    >>> average.update(1.0)
    >>> average.update(torch.tensor([2.0, 6.0]))
    >>> average.compute()
    3.0
    """

    _shape_free_states = ("total",)

    def __init__(
        self, output_transform: Callable[[Any], Any] | None = None, device: str | torch.device = "cpu"
    ) -> None:
        super().__init__(output_transform, device)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one value, or a batch of values along the first dimension."""
        value = _as_float64("Average", output, self.device)
        if value.dim() == 0:
            if self._updates and self.total.dim() != 0:
                raise ValueError(
                    f"Average got a single number after values of shape {tuple(self.total.shape)}. Keep one shape "
                    "between resets: pass a tensor of shape (N, ...) of that value shape, or use another Average."
                )
            self.total = self.total + value
            self.count += 1
        else:
            if self._updates and self.total.shape != value.shape[1:]:
                raise ValueError(
                    f"Average got values of shape {tuple(value.shape[1:])} (a tensor {tuple(value.shape)}) after "
                    f"values of shape {tuple(self.total.shape)}. Keep one shape between resets."
                )
            self.total = self.total + value.sum(dim=0)
            self.count += value.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float | torch.Tensor:
        """The mean: a float for scalar values, a tensor otherwise."""
        return _value_or_tensor(state["total"] / state["count"].clamp(min=1))


class RunningAverage(Metric):
    """An exponential moving average: ``value = alpha * value + (1 - alpha) * x`` after each update.

    ``x`` is the number or tensor it is given (``output_transform(engine.state.output)`` when
    attached) or, with ``src``, the value of the metric ``src`` on the current batch alone (``src``
    is reset and updated each iteration; a copy of it is, so the metric passed as ``src`` keeps its
    own values and may also be attached by itself). The first ``x`` starts the average. Attached, it is
    published after every iteration and keeps averaging across epochs (``"running_batch_wise"``
    usage); a run resumed from a checkpoint keeps the loaded average.

    Args:
        src: an ember or torchmetrics metric to average; None to average the output itself.
        alpha: the weight of the past, between 0 and 1.
        output_transform: picks ``x`` from the output; with ``src``, ``src``'s own transform is used.
        device: see :class:`~ember.metrics.Metric`.

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
        device: str | torch.device = "cpu",
    ) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise TypeError(
                f"RunningAverage alpha must be a number strictly between 0 and 1, got {alpha!r} "
                f"({type(alpha).__name__}). Pass e.g. alpha=0.98."
            )
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"RunningAverage alpha must be a number strictly between 0 and 1, got alpha={alpha!r}.")
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
        super().__init__(output_transform, device)
        self.src = source
        self.alpha = float(alpha)
        self.add_state("average", torch.tensor(0.0, dtype=torch.float64), reduction="mean")
        self.average: torch.Tensor

    def update(self, output: Any) -> None:
        """Move the average towards ``output`` (or towards ``src``'s value on ``output``)."""
        if self.src is not None:
            self.src.reset()
            self.src.update(output)
            output = self.src.compute()
        value = _as_float64("RunningAverage", output, self.device)
        if self._updates == 0:
            self.average = value.clone()
        else:
            self.average = self.average * self.alpha + value * (1.0 - self.alpha)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float | torch.Tensor:
        """The current average: a float for scalar values, a tensor otherwise."""
        return _value_or_tensor(state["average"])
