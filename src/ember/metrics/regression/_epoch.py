"""ignite's regression metrics that need every example at once: medians, rank correlations, GMRAE.

Each keeps the epoch's predictions and targets (an :class:`~ember.metrics.EpochMetric`); under
``torch.distributed`` every rank gathers the rows of all ranks (uneven shards allowed) and computes
the value on their union. The rank correlations call scipy (``pip install 'ember[scipy]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics.epoch_metric import EpochMetric
from ember.metrics.regression._base import check_regression_pair

__all__ = [
    "GeometricMeanRelativeAbsoluteError",
    "KendallRankCorrelation",
    "MedianAbsoluteError",
    "MedianAbsolutePercentageError",
    "MedianRelativeAbsoluteError",
    "SpearmanRankCorrelation",
    "median_absolute_error_compute_fn",
    "median_absolute_percentage_error_compute_fn",
    "median_relative_absolute_error_compute_fn",
]


def _median(values: torch.Tensor) -> float:
    """The median of all elements, the mean of the two middle ones for an even count (numpy's)."""
    ordered = values.reshape(-1).sort().values
    count = ordered.numel()
    if count == 0:
        raise NotComputableError("A median needs at least one example; every batch seen was empty.")
    middle = count // 2
    if count % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def median_absolute_error_compute_fn(y_pred: torch.Tensor, y: torch.Tensor) -> float:
    """The median of ``|y - y_pred|``.

    >>> median_absolute_error_compute_fn(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 4.0, 6.0]))
    2.0
    """
    return _median(torch.abs(y.view_as(y_pred) - y_pred))


def median_absolute_percentage_error_compute_fn(y_pred: torch.Tensor, y: torch.Tensor) -> float:
    """The median of ``100 · |y - y_pred| / |y|``.

    >>> median_absolute_percentage_error_compute_fn(torch.tensor([1.0, 3.0, 9.0]), torch.tensor([2.0, 4.0, 10.0]))
    25.0
    """
    target = y.view_as(y_pred)
    return 100.0 * _median(torch.abs(target - y_pred) / torch.abs(target))


def median_relative_absolute_error_compute_fn(y_pred: torch.Tensor, y: torch.Tensor) -> float:
    """The median of ``|y - y_pred| / |y - mean(y)|``.

    >>> median_relative_absolute_error_compute_fn(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 2.0, 6.0]))
    1.0
    """
    target = y.view_as(y_pred)
    return _median(torch.abs(target - y_pred) / torch.abs(target - torch.mean(y)))


def _geometric_mean_relative_absolute_error(y_pred: torch.Tensor, y: torch.Tensor) -> float:
    relative = torch.abs(y - y_pred) / torch.abs(y - y.mean())
    return float(torch.exp(torch.log(relative).mean()).item())


class _RegressionEpochMetric(EpochMetric):
    """An :class:`EpochMetric` whose inputs are checked as regression pairs ((N,) or (N, 1))."""

    _floats_only = True

    def update(self, output: Any) -> None:
        """Check and keep one batch's predictions and targets."""
        y_pred, y = check_regression_pair(type(self).__name__, *self._unpack_pair(output), self._floats_only)
        super().update((y_pred, y))


class MedianAbsoluteError(_RegressionEpochMetric):
    """The median of the absolute errors ``|y_i - ŷ_i|`` over every example seen.

    >>> metric = MedianAbsoluteError()
    >>> metric.update((torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 4.0, 6.0])))
    >>> metric.compute()
    2.0
    """

    _floats_only = False

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(median_absolute_error_compute_fn, output_transform, True, device, skip_unrolling)


class MedianAbsolutePercentageError(_RegressionEpochMetric):
    """The median of the absolute percentage errors ``100 · |y_i - ŷ_i| / |y_i|`` over every example seen.

    >>> metric = MedianAbsolutePercentageError()
    >>> metric.update((torch.tensor([1.0, 3.0, 9.0]), torch.tensor([2.0, 4.0, 10.0])))
    >>> metric.compute()
    25.0
    """

    _floats_only = False

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(median_absolute_percentage_error_compute_fn, output_transform, True, device, skip_unrolling)


class MedianRelativeAbsoluteError(_RegressionEpochMetric):
    """The median of the relative absolute errors ``|y_i - ŷ_i| / |y_i - ȳ|`` over every example seen.

    >>> metric = MedianRelativeAbsoluteError()
    >>> metric.update((torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 2.0, 6.0])))
    >>> metric.compute()
    1.0
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(median_relative_absolute_error_compute_fn, output_transform, True, device, skip_unrolling)


class GeometricMeanRelativeAbsoluteError(_RegressionEpochMetric):
    """The geometric mean of the relative absolute errors: ``exp(mean_i log(|y_i - ŷ_i| / |y_i - ȳ|))``.

    ``ȳ`` is the mean of all the targets seen, so the examples are kept until :meth:`compute`.

    >>> metric = GeometricMeanRelativeAbsoluteError()
    >>> metric.update((torch.tensor([0.0, 4.0]), torch.tensor([1.0, 3.0])))
    >>> metric.compute()
    1.0
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(_geometric_mean_relative_absolute_error, output_transform, False, device, skip_unrolling)


def _require_scipy(owner: str) -> None:
    try:
        import scipy.stats  # noqa: F401
    except ImportError as error:
        raise ModuleNotFoundError(
            f"{owner} computes with scipy, which is not installed. Install it with: pip install 'ember[scipy]'."
        ) from error


def _spearman(y_pred: torch.Tensor, y: torch.Tensor) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(y_pred.flatten().cpu().numpy(), y.flatten().cpu().numpy()).statistic)


class _KendallTau:
    """scipy's Kendall tau of the given variant, as a picklable ``compute_fn``."""

    def __init__(self, variant: str) -> None:
        self.variant = variant

    def __call__(self, y_pred: torch.Tensor, y: torch.Tensor) -> float:
        from scipy.stats import kendalltau

        flat_pred, flat_y = y_pred.flatten().cpu().numpy(), y.flatten().cpu().numpy()
        return float(kendalltau(flat_pred, flat_y, variant=self.variant).statistic)


class SpearmanRankCorrelation(_RegressionEpochMetric):
    """Spearman's rank correlation of predictions and targets (scipy's ``spearmanr``), over every example seen.

    Needs scipy (``pip install 'ember[scipy]'``); without it the constructor raises ModuleNotFoundError.

    >>> metric = SpearmanRankCorrelation()
    >>> metric.update((torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])))
    >>> round(metric.compute(), 4)
    0.8
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = True,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        _require_scipy("SpearmanRankCorrelation")
        super().__init__(_spearman, output_transform, check_compute_fn, device, skip_unrolling)


class KendallRankCorrelation(_RegressionEpochMetric):
    """Kendall's rank correlation tau of predictions and targets (scipy's ``kendalltau``), over every example seen.

    Args:
        variant: ``"b"`` (default; adjusted for ties) or ``"c"`` (Stuart's tau-c), as scipy names them.
        output_transform, check_compute_fn, device, skip_unrolling: see :class:`~ember.metrics.EpochMetric`.

    Needs scipy (``pip install 'ember[scipy]'``); without it the constructor raises ModuleNotFoundError.

    >>> metric = KendallRankCorrelation()
    >>> metric.update((torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])))
    >>> round(metric.compute(), 4)
    0.6667
    """

    def __init__(
        self,
        variant: str = "b",
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = True,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if variant not in ("b", "c"):
            raise ValueError(f"KendallRankCorrelation variant must be 'b' or 'c', got variant={variant!r}.")
        _require_scipy("KendallRankCorrelation")
        self.variant = variant
        super().__init__(_KendallTau(variant), output_transform, check_compute_fn, device, skip_unrolling)
