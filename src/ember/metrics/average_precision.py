"""Average precision by scikit-learn on an epoch's rows (ignite's ``average_precision``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics._sklearn_epoch import SklearnEpochMetric, as_numpy_pair, sklearn_metrics

__all__ = ["AveragePrecision", "average_precision_compute_fn"]


def average_precision_compute_fn(y_preds: torch.Tensor, y_targets: torch.Tensor) -> float:
    """scikit-learn's ``average_precision_score(y_targets, y_preds)`` of two tensors.

    >>> round(float(average_precision_compute_fn(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))), 4)
    0.8333
    """
    y_true, y_score = as_numpy_pair(y_preds, y_targets)
    return sklearn_metrics("average_precision_compute_fn").average_precision_score(y_true, y_score)  # type: ignore[no-any-return]


class AveragePrecision(SklearnEpochMetric):
    """Average precision of an epoch's scores, by scikit-learn's ``average_precision_score``.

    ``y_pred`` holds scores, ``y`` 0/1 labels, both ``(N,)`` or, for multilabel, ``(N, C)``
    (macro average). All rows (of every rank) are kept until ``compute()``. Needs scikit-learn:
    ``pip install 'ember[sklearn]'``. The arguments are those of :class:`~ember.metrics.ROC_AUC`.

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> AveragePrecision().attach(evaluator, "ap")
    >>> y_pred = torch.tensor([[0.79, 0.21], [0.30, 0.70], [0.46, 0.54], [0.16, 0.84]])
    >>> y_true = torch.tensor([[1, 1], [1, 1], [0, 1], [0, 1]])
    >>> round(evaluator.run([(y_pred, y_true)]).metrics["ap"], 4)
    0.9167
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(average_precision_compute_fn, output_transform, check_compute_fn, device, skip_unrolling)
