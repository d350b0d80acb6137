"""Input checks and the running-sum base shared by ignite's ``metrics.regression`` family."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__: list[str] = []

_FLOAT_DTYPES = (torch.float16, torch.float32, torch.float64)


def check_regression_pair(
    owner: str, y_pred: torch.Tensor, y: torch.Tensor, floats_only: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y_pred, y)`` as two vectors of shape ``(N,)``, or a clear error.

    As ignite's regression metrics, each of ``y_pred`` and ``y`` is ``(N,)`` or ``(N, 1)`` (one
    output per example), both have the same shape, and both are float16, float32 or float64
    (with ``floats_only=False``, integers are accepted too, as ignite's median metrics take them).
    """
    for what, tensor in (("y_pred", y_pred), ("y", y)):
        if not (tensor.dim() == 1 or (tensor.dim() == 2 and tensor.shape[1] == 1)):
            raise ValueError(
                f"{owner} expects {what} of shape (N,) or (N, 1), one value per example, got shape "
                f"{tuple(tensor.shape)}. Flatten a multi-output model's values, e.g. y_pred.reshape(-1) with "
                "y.reshape(-1), if each output counts as an example."
            )
    if y_pred.shape != y.shape:
        raise ValueError(
            f"{owner} expects y_pred and y of the same shape, got y_pred {tuple(y_pred.shape)} and y "
            f"{tuple(y.shape)}. Give both as (N,) or both as (N, 1)."
        )
    for what, tensor in (("y_pred", y_pred), ("y", y)):
        if floats_only and tensor.dtype not in _FLOAT_DTYPES:
            raise TypeError(
                f"{owner} expects {what} of a float dtype (float16, float32 or float64), got {tensor.dtype}. "
                f"Convert it, e.g. {what}.float()."
            )
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(
                f"{owner} expects {what} of real numbers, got {tensor.dtype}. Convert it, e.g. {what}.float()."
            )
    if y_pred.dim() == 2:
        return y_pred.squeeze(1), y.squeeze(1)
    return y_pred, y


def refuse_zero_targets(owner: str, y: torch.Tensor) -> None:
    """The relative errors divide by ``y``: a zero target has none (as ignite, NotComputableError)."""
    if bool((y == 0).any()):
        raise NotComputableError(
            f"{owner} divides by the targets y, and this batch has a target equal to 0 "
            f"({int((y == 0).sum())} of {y.numel()}). Drop or shift the zero targets before this metric."
        )


class RegressionSum(Metric):
    """A sum over examples of a per-example quantity, and the number of examples.

    Subclasses give the per-example quantity (:meth:`_terms`) and the value (:meth:`compute_from`).
    The sum is kept in ``_sum_dtype`` (float32 by default, as ignite keeps it, so that values
    agree with ignite's to the last bits), and both states are summed across ranks.
    """

    _sum_dtype: torch.dtype = torch.float32
    #: Whether the metric counts examples (the sums ignite keeps without a count do not).
    _counts_examples: bool = True

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0, dtype=self._sum_dtype), reduction="sum")
        if self._counts_examples:
            self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    @abstractmethod
    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The per-example quantity summed by the metric, from ``(N,)`` predictions and targets."""

    def update(self, output: Any) -> None:
        """Add one batch's per-example quantities and its number of examples."""
        y_pred, y = check_regression_pair(type(self).__name__, *self._unpack_pair(output))
        self.total += self._terms(y_pred, y).sum()
        if self._counts_examples:
            self.count += y.shape[0]

    def _mean(self, state: Mapping[str, torch.Tensor]) -> float:
        count = int(state["count"])
        if count == 0:
            raise NotComputableError(
                f"{type(self).__name__} must have at least one example before it can be computed; the updates so "
                "far held empty batches."
            )
        return float(state["total"].item()) / count
