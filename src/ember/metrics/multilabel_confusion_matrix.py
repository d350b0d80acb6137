"""One 2x2 confusion matrix per label of multilabel predictions (ignite's ``multilabel_confusion_matrix``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.metrics.metric import Metric

__all__ = ["MultiLabelConfusionMatrix"]

_INTEGER_TYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


class MultiLabelConfusionMatrix(Metric):
    """Per label, the counts ``[[TN, FP], [FN, TP]]``: a ``(num_classes, 2, 2)`` tensor, as scikit-learn's.

    ``y_pred`` and ``y`` are 0/1 integer tensors of the same shape ``(N, num_classes, ...)``; the
    dimensions after the second count as more samples. ``normalized=True`` divides each label's
    matrix by its total (float64). Under ``torch.distributed`` the counts are summed over ranks.

    Args:
        num_classes: the number of labels, at least 2.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        normalized: return fractions instead of counts.

    >>> metric = MultiLabelConfusionMatrix(num_classes=2)
    >>> metric.update((torch.tensor([[1, 0], [1, 1], [0, 1]]), torch.tensor([[1, 0], [0, 1], [0, 0]])))
    >>> metric.compute().tolist()
    [[[1, 1], [0, 1]], [[1, 1], [0, 1]]]
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "confusion_matrix": "confusion_matrix",
        "examples": "_num_examples",
    }

    def __init__(
        self,
        num_classes: int,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        normalized: bool = False,
        skip_unrolling: bool = False,
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise TypeError(f"MultiLabelConfusionMatrix num_classes must be an integer, got {num_classes!r}.")
        if num_classes < 2:
            raise ValueError(
                f"MultiLabelConfusionMatrix num_classes must be at least 2, got {num_classes}. "
                "For a single label, use ConfusionMatrix(2)."
            )
        self.num_classes = num_classes
        self.normalized = bool(normalized)
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("confusion_matrix", torch.zeros(num_classes, 2, 2, dtype=torch.int64), reduction="sum")
        self.add_state("examples", torch.tensor(0), reduction="sum")
        self.confusion_matrix: torch.Tensor
        self.examples: torch.Tensor

    def _check(self, y_pred: torch.Tensor, y: torch.Tensor) -> None:
        name = "MultiLabelConfusionMatrix"
        if y_pred.dim() < 2 or y_pred.shape != y.shape or y_pred.shape[1] != self.num_classes:
            raise ValueError(
                f"{name} takes y_pred and y of the same shape (N, num_classes={self.num_classes}, ...), got "
                f"y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)}."
            )
        for what, value in (("y_pred", y_pred), ("y", y)):
            if value.dtype not in _INTEGER_TYPES:
                raise ValueError(
                    f"{name} takes integer 0/1 {what}, got dtype {value.dtype}. Threshold scores first, "
                    "e.g. (y_pred > 0.5).long()."
                )
            if bool(((value != 0) & (value != 1)).any()):
                raise ValueError(f"{name} takes 0/1 values in {what}, got other values.")

    def update(self, output: Any) -> None:
        """Add one batch's per-label counts."""
        y_pred, y = self._unpack_pair(output)
        self._check(y_pred, y)
        # (N, C, ...) -> (C, samples)
        predicted = y_pred.transpose(0, 1).reshape(self.num_classes, -1).long()
        actual = y.transpose(0, 1).reshape(self.num_classes, -1).long()
        true_positives = (predicted * actual).sum(dim=1)
        false_positives = predicted.sum(dim=1) - true_positives
        false_negatives = actual.sum(dim=1) - true_positives
        true_negatives = predicted.shape[1] - true_positives - false_positives - false_negatives
        counts = torch.stack([true_negatives, false_positives, false_negatives, true_positives], dim=1)
        self.confusion_matrix += counts.reshape(self.num_classes, 2, 2)
        self.examples += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The counts, or with ``normalized=True`` each label's fractions (float64)."""
        matrix = state["confusion_matrix"]
        if not self.normalized:
            return matrix
        fractions = matrix.to(torch.float64)
        return fractions / fractions.sum(dim=(1, 2), keepdim=True)
