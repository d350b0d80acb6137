"""Area under the ROC curve and the curve itself, by scikit-learn on an epoch's rows (ignite's ``roc_auc``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics._sklearn_epoch import SklearnEpochMetric, as_numpy_pair, curve_tensors, sklearn_metrics

__all__ = ["ROC_AUC", "RocCurve", "roc_auc_compute_fn", "roc_auc_curve_compute_fn"]


def roc_auc_compute_fn(y_preds: torch.Tensor, y_targets: torch.Tensor) -> float:
    """scikit-learn's ``roc_auc_score(y_targets, y_preds)`` of two tensors.

    >>> round(float(roc_auc_compute_fn(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))), 4)
    0.75
    """
    y_true, y_score = as_numpy_pair(y_preds, y_targets)
    return sklearn_metrics("roc_auc_compute_fn").roc_auc_score(y_true, y_score)  # type: ignore[no-any-return]


def roc_auc_curve_compute_fn(y_preds: torch.Tensor, y_targets: torch.Tensor) -> tuple[Any, Any, Any]:
    """scikit-learn's ``roc_curve(y_targets, y_preds)``: numpy arrays of FPR, TPR and thresholds.

    >>> fpr, tpr, thresholds = roc_auc_curve_compute_fn(torch.tensor([0.1, 0.4, 0.8]), torch.tensor([0, 1, 1]))
    >>> tpr.tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    y_true, y_score = as_numpy_pair(y_preds, y_targets)
    return sklearn_metrics("roc_auc_curve_compute_fn").roc_curve(y_true, y_score)  # type: ignore[no-any-return]


class ROC_AUC(SklearnEpochMetric):
    """Area under the ROC curve of an epoch's scores, by scikit-learn's ``roc_auc_score``.

    Keeps every batch's ``(y_pred, y)`` (see :class:`~ember.metrics.EpochMetric`) and computes on
    all of them (of every rank) at ``compute()``. ``y_pred`` holds scores (probabilities or
    logits), ``y`` 0/1 labels, both of shape ``(N,)`` or, for multilabel, ``(N, C)`` (macro
    average). Needs scikit-learn: ``pip install 'ember[sklearn]'``.

    Args:
        output_transform: picks ``(y_pred, y)`` from the engine's output, e.g. applies a sigmoid.
        check_compute_fn: run the computation on the first batch and warn if it fails there.
        device: where the kept rows live.
        skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> ROC_AUC().attach(evaluator, "roc_auc")
    >>> y_pred = torch.tensor([[0.0474], [0.5987], [0.7109], [0.9997]])
    >>> y_true = torch.tensor([[0], [0], [1], [0]])
    >>> round(evaluator.run([(y_pred, y_true)]).metrics["roc_auc"], 4)
    0.6667
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(roc_auc_compute_fn, output_transform, check_compute_fn, device, skip_unrolling)


class RocCurve(SklearnEpochMetric):
    """The ROC curve of an epoch's binary scores: ``(fpr, tpr, thresholds)``, float64 tensors.

    By scikit-learn's ``roc_curve`` on all the rows kept since the last reset (of every rank).
    ``y_pred`` and ``y`` have shape ``(N,)``. Needs scikit-learn: ``pip install 'ember[sklearn]'``.
    The arguments are those of :class:`ROC_AUC`.

    >>> curve = RocCurve()
    >>> curve.update((torch.tensor([0.0474, 0.5987, 0.7109, 0.9997]), torch.tensor([0, 0, 1, 0])))
    >>> fpr, tpr, thresholds = curve.compute()
    >>> [round(value, 3) for value in fpr.tolist()], tpr.tolist()
    ([0.0, 0.333, 0.333, 1.0], [0.0, 0.0, 1.0, 1.0])
    """

    one_dimensional = True

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(roc_auc_curve_compute_fn, output_transform, check_compute_fn, device, skip_unrolling)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(fpr, tpr, thresholds)`` over all rows seen (of every rank), as float64 tensors."""
        fpr, tpr, thresholds = curve_tensors(super().compute(), self.device)
        return fpr, tpr, thresholds
