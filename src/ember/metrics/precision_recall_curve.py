"""The precision-recall curve by scikit-learn on an epoch's rows (ignite's ``precision_recall_curve``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics._sklearn_epoch import SklearnEpochMetric, as_numpy_pair, curve_tensors, sklearn_metrics

__all__ = ["PrecisionRecallCurve", "precision_recall_curve_compute_fn"]


def precision_recall_curve_compute_fn(y_preds: torch.Tensor, y_targets: torch.Tensor) -> tuple[Any, Any, Any]:
    """scikit-learn's ``precision_recall_curve(y_targets, y_preds)``: numpy precision, recall, thresholds.

    >>> precision, recall, thresholds = precision_recall_curve_compute_fn(
    ...     torch.tensor([0.1, 0.4, 0.8]), torch.tensor([0, 1, 1])
    ... )
    >>> recall.tolist()
    [1.0, 1.0, 0.5, 0.0]
    """
    y_true, y_score = as_numpy_pair(y_preds, y_targets)
    return sklearn_metrics("precision_recall_curve_compute_fn").precision_recall_curve(y_true, y_score)  # type: ignore[no-any-return]


class PrecisionRecallCurve(SklearnEpochMetric):
    """The precision-recall curve of an epoch's binary scores: ``(precision, recall, thresholds)`` tensors.

    By scikit-learn's ``precision_recall_curve`` on all rows since the last reset (of every rank);
    ``y_pred`` and ``y`` have shape ``(N,)``; the values are float64 tensors. Needs scikit-learn:
    ``pip install 'ember[sklearn]'``. The arguments are those of :class:`~ember.metrics.ROC_AUC`.

    >>> curve = PrecisionRecallCurve()
    >>> curve.update((torch.tensor([0.0474, 0.5987, 0.7109, 0.9997]), torch.tensor([0, 0, 1, 0])))
    >>> precision, recall, thresholds = curve.compute()
    >>> [round(value, 4) for value in precision.tolist()], recall.tolist()
    ([0.25, 0.3333, 0.5, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0, 0.0])
    """

    one_dimensional = True

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(precision_recall_curve_compute_fn, output_transform, check_compute_fn, device, skip_unrolling)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(precision, recall, thresholds)`` over all rows seen (of every rank), as float64 tensors."""
        precision, recall, thresholds = curve_tensors(super().compute(), self.device)
        return precision, recall, thresholds
