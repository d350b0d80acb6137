"""ignite's regression metrics that are running sums: errors, distances, biases, R², Pearson's r.

Each takes ``(y_pred, y)`` of shape ``(N,)`` or ``(N, 1)`` in a float dtype (see
:func:`~ember.metrics.regression._base.check_regression_pair`) and keeps sums whose dtype is ignite's
(float32 unless noted), so that its values equal ignite's; under ``torch.distributed`` the sums of
the ranks are added, and every rank gets the value of one process on the union of the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric
from ember.metrics.regression._base import RegressionSum, check_regression_pair, refuse_zero_targets

__all__ = [
    "CanberraMetric",
    "FractionalAbsoluteError",
    "FractionalBias",
    "GeometricMeanAbsoluteError",
    "ManhattanDistance",
    "MaximumAbsoluteError",
    "MeanAbsoluteRelativeError",
    "MeanError",
    "MeanNormalizedBias",
    "PearsonCorrelation",
    "R2Score",
    "WaveHedgesDistance",
]

_SUM_AND_COUNT: Mapping[str, str] = {"total": "_sum_of_errors", "count": "_num_examples"}


class CanberraMetric(RegressionSum):
    """The Canberra distance: ``Σ_i |y_i - ŷ_i| / (|ŷ_i| + |y_i|)`` over every example seen.

    A pair of zeros adds 0 (a ``1e-15`` in the denominator, as ignite).

    >>> import torch
    >>> metric = CanberraMetric()
    >>> metric.update((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0])))
    >>> metric.compute()
    0.5
    """

    _counts_examples = False
    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_errors"}

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.abs(y - y_pred) / (torch.abs(y_pred) + torch.abs(y) + 1e-15)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The sum of the per-example distances."""
        return float(state["total"].item())


class ManhattanDistance(RegressionSum):
    """The Manhattan (L1) distance: ``Σ_i |y_i - ŷ_i|`` over every example seen.

    >>> import torch
    >>> metric = ManhattanDistance()
    >>> metric.update((torch.tensor([1.0, 2.0]), torch.tensor([1.5, 4.0])))
    >>> metric.compute()
    2.5
    """

    _counts_examples = False
    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_errors"}

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.abs(y - y_pred)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The sum of the absolute errors."""
        return float(state["total"].item())


class WaveHedgesDistance(RegressionSum):
    """The Wave Hedges distance: ``Σ_i |y_i - ŷ_i| / max(ŷ_i, y_i)`` over every example seen.

    >>> import torch
    >>> metric = WaveHedgesDistance()
    >>> metric.update((torch.tensor([1.0, 4.0]), torch.tensor([2.0, 4.0])))
    >>> metric.compute()
    0.5
    """

    _counts_examples = False
    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_errors"}

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.abs(y - y_pred) / (torch.maximum(y_pred, y) + 1e-30)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The sum of the per-example distances."""
        return float(state["total"].item())


class FractionalAbsoluteError(RegressionSum):
    """The fractional absolute error: the mean of ``2 |y_i - ŷ_i| / (|ŷ_i| + |y_i|)``.

    >>> import torch
    >>> metric = FractionalAbsoluteError()
    >>> metric.update((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0])))
    >>> metric.compute()
    0.5
    """

    _ignite_state_names = _SUM_AND_COUNT

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 2 * torch.abs(y - y_pred) / (torch.abs(y_pred) + torch.abs(y))

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean over examples."""
        return self._mean(state)


class FractionalBias(RegressionSum):
    """The fractional bias: the mean of ``2 (y_i - ŷ_i) / (ŷ_i + y_i)`` (its sum kept in float64, as ignite).

    >>> import torch
    >>> metric = FractionalBias()
    >>> metric.update((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0])))
    >>> metric.compute()
    0.5
    """

    _sum_dtype = torch.float64
    _ignite_state_names = _SUM_AND_COUNT

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 2 * (y - y_pred) / (y_pred + y + 1e-30)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean over examples."""
        return self._mean(state)


class GeometricMeanAbsoluteError(RegressionSum):
    """The geometric mean of the absolute errors: ``exp(mean_i log |y_i - ŷ_i|)``.

    An exact prediction makes the value 0 (its log is ``-inf``), as in ignite.

    >>> import torch
    >>> metric = GeometricMeanAbsoluteError()
    >>> metric.update((torch.tensor([0.0, 0.0]), torch.tensor([1.0, 4.0])))
    >>> metric.compute()
    2.0
    """

    _ignite_state_names = _SUM_AND_COUNT

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.abs(y - y_pred))

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """``exp`` of the mean log absolute error."""
        self._mean(state)  # the check for examples
        return float(torch.exp(state["total"] / int(state["count"])).item())


class MeanAbsoluteRelativeError(RegressionSum):
    """The mean absolute relative error: the mean of ``|y_i - ŷ_i| / |y_i|`` (a fraction, not a percentage).

    A batch with a target equal to 0 raises :class:`~ember.exceptions.NotComputableError`, as in ignite.

    >>> import torch
    >>> metric = MeanAbsoluteRelativeError()
    >>> metric.update((torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0])))
    >>> metric.compute()
    0.375
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "total": "_sum_of_absolute_relative_errors",
        "count": "_num_samples",
    }

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        refuse_zero_targets(type(self).__name__, y)
        return torch.abs(y_pred - y) / torch.abs(y)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean over examples."""
        return self._mean(state)


class MeanError(RegressionSum):
    """The mean error (a bias): the mean of ``y_i - ŷ_i``; positive when the model predicts too low.

    >>> import torch
    >>> metric = MeanError()
    >>> metric.update((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0])))
    >>> metric.compute()
    1.0
    """

    _ignite_state_names = _SUM_AND_COUNT

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y - y_pred

    def update(self, output: Any) -> None:
        """Add one batch's errors (their sum as a number, as ignite adds it) and its number of examples."""
        y_pred, y = check_regression_pair(type(self).__name__, *self._unpack_pair(output))
        self.total += self._terms(y_pred, y).sum().item()
        self.count += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean over examples."""
        return self._mean(state)


class MeanNormalizedBias(RegressionSum):
    """The mean normalized bias: the mean of ``(y_i - ŷ_i) / y_i``.

    A batch with a target equal to 0 raises :class:`~ember.exceptions.NotComputableError`, as in ignite.

    >>> import torch
    >>> metric = MeanNormalizedBias()
    >>> metric.update((torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0])))
    >>> metric.compute()
    0.375
    """

    _ignite_state_names = _SUM_AND_COUNT

    def _terms(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        refuse_zero_targets(type(self).__name__, y)
        return (y - y_pred) / y

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean over examples."""
        return self._mean(state)


class MaximumAbsoluteError(Metric):
    """The largest absolute error ``max_i |y_i - ŷ_i|`` seen; ranks combine by their maximum.

    An empty batch adds nothing (ignite raises on one).

    >>> import torch
    >>> metric = MaximumAbsoluteError()
    >>> metric.update((torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.5])))
    >>> metric.compute()
    2.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"largest": "_max_of_absolute_errors"}

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        # -1 means "nothing seen" (errors are >= 0), as in ignite's state.
        self.add_state("largest", torch.tensor(-1.0, dtype=torch.float64), reduction="max")
        self.largest: torch.Tensor

    def update(self, output: Any) -> None:
        """Keep the largest absolute error so far."""
        y_pred, y = check_regression_pair(type(self).__name__, *self._unpack_pair(output))
        if y.numel():
            self.largest = torch.maximum(self.largest, torch.abs(y_pred - y).max().to(torch.float64))

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The largest absolute error."""
        if float(state["largest"]) < 0:
            raise NotComputableError(
                "MaximumAbsoluteError must have at least one example before it can be computed; the updates so far "
                "held empty batches."
            )
        return float(state["largest"])


class R2Score(Metric):
    """The coefficient of determination ``R² = 1 - Σ (y_i - ŷ_i)² / Σ (y_i - ȳ)²``.

    Computed from running sums (float32, as ignite), so batches and ranks combine exactly; targets
    without variance make it undefined (:class:`~ember.exceptions.NotComputableError`).

    >>> import torch
    >>> metric = R2Score()
    >>> metric.update((torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 4.0])))
    >>> round(metric.compute(), 4)
    0.7857
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "count": "_num_examples",
        "squared_errors": "_sum_of_errors",
        "target_squares": "_y_sq_sum",
        "target_sum": "_y_sum",
    }

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("count", torch.tensor(0), reduction="sum")
        for name in ("squared_errors", "target_squares", "target_sum"):
            self.add_state(name, torch.tensor(0.0), reduction="sum")
        self.count: torch.Tensor
        self.squared_errors: torch.Tensor
        self.target_squares: torch.Tensor
        self.target_sum: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's squared errors, target sum and target squares."""
        y_pred, y = check_regression_pair("R2Score", *self._unpack_pair(output))
        self.count += y.shape[0]
        self.squared_errors += torch.sum(torch.pow(y_pred - y, 2))
        self.target_sum += torch.sum(y)
        self.target_squares += torch.sum(torch.pow(y, 2))

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """``1 - SSE / SST`` from the sums."""
        count = int(state["count"])
        if count == 0:
            raise NotComputableError("R2Score must have at least one example before it can be computed.")
        total_variation = state["target_squares"].item() - state["target_sum"].item() ** 2 / count
        if total_variation == 0:
            raise NotComputableError(
                f"R2Score is undefined when the targets do not vary: all {count} targets seen are equal. "
                "Compute it over more examples."
            )
        return 1 - state["squared_errors"].item() / total_variation


_PEARSON_STATES: dict[str, str] = {
    "pred_sum": "_sum_of_y_preds",
    "target_sum": "_sum_of_ys",
    "pred_squares": "_sum_of_y_pred_squares",
    "target_squares": "_sum_of_y_squares",
    "products": "_sum_of_products",
    "count": "_num_examples",
}


class PearsonCorrelation(Metric):
    """Pearson's correlation coefficient ``r = cov(ŷ, y) / (std(ŷ) · std(y))`` of predictions and targets.

    Computed from running sums (float32, as ignite). The product of the standard deviations is
    clamped to at least ``eps``, so constant inputs give 0 rather than a division by zero.

    Args:
        eps: the smallest denominator (ignite's default ``1e-8``).
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> metric = PearsonCorrelation()
    >>> metric.update((torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0])))
    >>> round(metric.compute(), 6)
    1.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = _PEARSON_STATES

    def __init__(
        self,
        eps: float = 1e-8,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
            raise ValueError(f"PearsonCorrelation eps must be a finite number >= 0, got eps={eps!r}.")
        self.eps = float(eps)
        super().__init__(output_transform, device, skip_unrolling)
        for name in _PEARSON_STATES:
            default = torch.tensor(0) if name == "count" else torch.tensor(0.0)
            self.add_state(name, default, reduction="sum")
        self.pred_sum: torch.Tensor
        self.target_sum: torch.Tensor
        self.pred_squares: torch.Tensor
        self.target_squares: torch.Tensor
        self.products: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's sums, sums of squares and sum of products."""
        y_pred, y = check_regression_pair("PearsonCorrelation", *self._unpack_pair(output))
        self.pred_sum += y_pred.sum()
        self.target_sum += y.sum()
        self.pred_squares += y_pred.square().sum()
        self.target_squares += y.square().sum()
        self.products += (y_pred * y).sum()
        self.count += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """``r`` from the sums: covariance over the clamped product of the standard deviations."""
        n = int(state["count"])
        if n == 0:
            raise NotComputableError("PearsonCorrelation must have at least one example before it can be computed.")
        pred_mean, target_mean = state["pred_sum"] / n, state["target_sum"] / n
        covariance = state["products"] / n - state["pred_sum"] * state["target_sum"] / (n * n)
        pred_variance = torch.clamp(state["pred_squares"] / n - pred_mean * pred_mean, min=0.0)
        target_variance = torch.clamp(state["target_squares"] / n - target_mean * target_mean, min=0.0)
        return float((covariance / torch.clamp(torch.sqrt(pred_variance * target_variance), min=self.eps)).item())
