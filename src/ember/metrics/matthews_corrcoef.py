"""Matthews correlation coefficient by scikit-learn on an epoch's rows (ignite's ``matthews_corrcoef``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics._sklearn_epoch import SklearnEpochMetric, as_numpy_pair, sklearn_metrics

__all__ = ["MatthewsCorrCoef", "matthews_corrcoef_compute_fn"]


def _labels(y_preds: torch.Tensor, y_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class indices from scores: ``(N, C)`` rows become their argmax; ``(N,)`` are labels already."""
    if y_preds.dim() == 1 and y_targets.dim() == 2:
        raise ValueError(
            f"matthews_corrcoef_compute_fn got labels y_pred of shape {tuple(y_preds.shape)} with one-hot y of "
            f"shape {tuple(y_targets.shape)}. Pass y as class indices (N,), or y_pred as scores (N, C)."
        )
    if y_preds.dim() == 2:
        y_preds = y_preds.argmax(dim=1)
    if y_targets.dim() == 2:
        y_targets = y_targets.argmax(dim=1)
    return y_preds, y_targets


def matthews_corrcoef_compute_fn(y_preds: torch.Tensor, y_targets: torch.Tensor) -> float:
    """scikit-learn's ``matthews_corrcoef`` of class indices (scores ``(N, C)`` are read by their argmax).

    >>> round(float(matthews_corrcoef_compute_fn(torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1]))), 4)
    0.5774
    """
    y_true, y_pred = as_numpy_pair(*_labels(y_preds, y_targets))
    return sklearn_metrics("matthews_corrcoef_compute_fn").matthews_corrcoef(y_true, y_pred)  # type: ignore[no-any-return]


class MatthewsCorrCoef(SklearnEpochMetric):
    """The Matthews correlation coefficient of an epoch's predictions, by scikit-learn.

    ``y_pred`` is class indices ``(N,)`` or scores ``(N, C)`` (read by their argmax); ``y`` is
    class indices ``(N,)`` or one-hot ``(N, C)`` (then ``y_pred`` must be ``(N, C)`` too). All
    rows (of every rank) are kept until ``compute()``. Needs scikit-learn:
    ``pip install 'ember[sklearn]'``. The arguments are those of :class:`~ember.metrics.ROC_AUC`.

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> MatthewsCorrCoef().attach(evaluator, "mcc")
    >>> y_pred = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    >>> y_true = torch.tensor([0, 1, 0, 0])
    >>> round(evaluator.run([(y_pred, y_true)]).metrics["mcc"], 4)
    0.5774
    """

    same_shape = False

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(matthews_corrcoef_compute_fn, output_transform, check_compute_fn, device, skip_unrolling)

    def update(self, output: Any) -> None:
        """Keep one batch's rows; labels ``y_pred`` with one-hot ``y`` are refused here."""
        y_pred, y = self._unpack_pair(output)
        pred_labels = y_pred.dim() == 1 or (y_pred.dim() == 2 and y_pred.shape[1] == 1)
        if pred_labels and y.dim() == 2 and y.shape[1] > 1:
            _labels(y_pred.reshape(-1), y)  # raises: labels against one-hot targets
        if len(y_pred) != len(y):
            raise ValueError(
                f"MatthewsCorrCoef got y_pred of {len(y_pred)} rows and y of {len(y)}: give both one row per sample."
            )
        super().update((y_pred, y))
