"""Mean average precision of classification scores over an epoch (ignite's ``mean_average_precision``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ember import distributed
from ember.exceptions import NotComputableError
from ember.metrics.epoch_metric import EpochMetric

__all__ = ["MeanAveragePrecision"]

_CLASS_MEANS = (None, "micro", "macro", "weighted")


def _recall_precision(scores: torch.Tensor, positives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Recall and precision at each distinct score, from the highest score down (ties taken together)."""
    order = torch.argsort(scores, descending=True, stable=True)
    ranked = scores[order]
    true_positives = positives[order].cumsum(dim=0).to(torch.float64)
    # the last position of each run of equal scores: a threshold includes all of a tie or none of it
    last_of_tie = torch.nonzero(torch.diff(ranked, append=ranked[-1:] + 1) != 0, as_tuple=True)[0]
    true_positives = true_positives[last_of_tie]
    predicted = (last_of_tie + 1).to(torch.float64)
    total = positives.sum()
    recall = true_positives / total if total > 0 else torch.ones_like(true_positives)
    return recall, true_positives / predicted


def _area(recall: torch.Tensor, precision: torch.Tensor, thresholds: torch.Tensor | None) -> torch.Tensor:
    """``Σ (R_i - R_{i-1}) · P_i``; with recall thresholds, P at the first point reaching each threshold (or 0)."""
    if thresholds is not None:
        first = torch.searchsorted(recall, thresholds)
        reached = first < len(recall)
        precision = torch.where(reached, precision[first.clamp(max=len(recall) - 1)], 0.0)
        recall = thresholds
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return (steps * precision).sum()


class MeanAveragePrecision(EpochMetric):
    """Average precision (area under the precision-recall steps) per class, averaged over the classes.

    For each class, the samples are ranked by score; at each distinct score the recall and
    precision of taking every sample scored at least as high are computed, and the average
    precision is ``Σ (R_i - R_{i-1}) · P_i``. With ``rec_thresholds``, the recall axis is sampled at
    those values instead (the precision of the first point whose recall reaches each threshold, or
    0). The inputs are those of :class:`~ember.metrics.Precision`: binary scores ``(N, ...)`` with
    0/1 targets (the value is a float), multiclass scores ``(N, C, ...)`` with labels ``(N, ...)``,
    or multilabel scores ``(N, C, ...)`` with 0/1 targets (``is_multilabel=True``). All scores (of
    every rank) are kept until ``compute()``.

    Args:
        rec_thresholds: recall values in ``[0, 1]`` to sample at, or None for every distinct score.
        class_mean: ``"macro"`` (mean over classes), ``"weighted"`` (by each class's positives),
            ``"micro"`` (all classes' scores pooled into one ranking) or None (one value per class).
        is_multilabel: read ``(N, C, ...)`` targets as 0/1 labels per class.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> metric = MeanAveragePrecision()
    >>> y_pred = torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    >>> metric.update((y_pred, torch.tensor([0, 2, 1, 2])))
    >>> metric.compute().item()  # classes 0 and 2: AP 1 and 0.75; class 1: 0.5
    0.75
    """

    def __init__(
        self,
        rec_thresholds: Sequence[float] | torch.Tensor | None = None,
        class_mean: str | None = "macro",
        is_multilabel: bool = False,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if class_mean not in _CLASS_MEANS:
            raise ValueError(
                f"MeanAveragePrecision class_mean must be 'macro', 'weighted', 'micro' or None, got {class_mean!r}."
            )
        self.rec_thresholds = None if rec_thresholds is None else self._thresholds(rec_thresholds)
        self.class_mean = class_mean
        self._is_multilabel = bool(is_multilabel)
        self._type: str | None = None
        self._num_classes: int | None = None
        super().__init__(self._mean_average_precision, output_transform, False, device, skip_unrolling)

    @staticmethod
    def _thresholds(values: Sequence[float] | torch.Tensor) -> torch.Tensor:
        if not isinstance(values, (Sequence, torch.Tensor)) or isinstance(values, str):
            raise TypeError(
                f"MeanAveragePrecision rec_thresholds must be a sequence of floats or a tensor, got {values!r}."
            )
        # a list becomes a tensor of torch's default dtype first, then float64: ignite's values, to the bit
        thresholds = torch.as_tensor(values).to(torch.float64)
        if thresholds.dim() != 1 or thresholds.numel() == 0:
            raise ValueError(
                f"MeanAveragePrecision rec_thresholds must be one-dimensional, got shape {tuple(thresholds.shape)}."
            )
        if bool((thresholds < 0).any() or (thresholds > 1).any()):
            raise ValueError(f"MeanAveragePrecision rec_thresholds must lie in [0, 1], got {thresholds.tolist()}.")
        return thresholds.sort().values

    def reset(self) -> None:
        """Forget the kept scores and the input type."""
        super().reset()
        self._type = None
        self._num_classes = None

    def _kind(self, y_pred: torch.Tensor, y: torch.Tensor) -> tuple[str, int]:
        """``("binary" | "multiclass" | "multilabel", classes)`` from the shapes, or a clear error."""
        if y_pred.dim() == y.dim() + 1 and y_pred.shape[:1] + y_pred.shape[2:] == y.shape and not self._is_multilabel:
            return ("binary", 1) if y_pred.shape[1] == 1 else ("multiclass", y_pred.shape[1])
        if y_pred.shape == y.shape and y.dim() >= 1:
            if not self._is_multilabel:
                return "binary", 1
            if y.dim() > 1 and y.shape[1] > 1:
                return "multilabel", y.shape[1]
        raise ValueError(
            f"MeanAveragePrecision takes scores y_pred (N, C, ...) with labels y (N, ...), or y_pred and 0/1 y of "
            f"the same shape (N, ...) (multilabel: (N, C, ...), C > 1, with is_multilabel=True); got y_pred "
            f"{tuple(y_pred.shape)} and y {tuple(y.shape)}."
        )

    def update(self, output: Any) -> None:
        """Keep one batch's scores and targets, one row per sample (and position)."""
        y_pred, y = self._unpack_pair(output)
        kind, classes = self._kind(y_pred, y)
        if not y_pred.is_floating_point():
            raise TypeError(f"MeanAveragePrecision takes float scores y_pred, got dtype {y_pred.dtype}.")
        if self._type is not None and (kind, classes) != (self._type, self._num_classes):
            raise ValueError(
                f"MeanAveragePrecision got {kind} inputs of {classes} classes after {self._type} inputs of "
                f"{self._num_classes}: keep one kind of input between resets."
            )
        if kind == "multiclass":
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= classes):
                raise ValueError(f"MeanAveragePrecision got labels outside [0, {classes}) for {classes} class scores.")
            rows, targets = y_pred.movedim(1, -1).reshape(-1, classes), y.reshape(-1).long()
        elif kind == "multilabel":
            rows, targets = y_pred.movedim(1, -1).reshape(-1, classes), y.movedim(1, -1).reshape(-1, classes)
        else:
            rows, targets = y_pred.reshape(-1), y.reshape(-1)
        if kind != "multiclass" and bool(((targets != 0) & (targets != 1)).any()):
            raise ValueError(f"MeanAveragePrecision takes 0/1 targets y for {kind} inputs, got other values.")
        self._type, self._num_classes = kind, classes
        super().update((rows.to(torch.float64), targets.to(torch.uint8 if kind != "multiclass" else torch.long)))

    def compute(self) -> torch.Tensor | float:
        """The mean average precision over every sample seen (of every rank; a collective when distributed)."""
        if distributed.get_world_size() > 1:
            # a rank that saw no batch learns the kind of input from the others
            kinds = {kind for kind in distributed.all_gather((self._type, self._num_classes)) if kind[0] is not None}
            if len(kinds) > 1:
                raise ValueError(f"MeanAveragePrecision got different kinds of input on different ranks: {kinds}.")
            if kinds and self._type is None:
                self._type, self._num_classes = kinds.pop()
        value: torch.Tensor | float = super().compute()
        return value

    def _mean_average_precision(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | float:
        if self._type is None or scores.numel() == 0:
            raise NotComputableError("MeanAveragePrecision needs at least one sample before compute().")
        if self._type == "multiclass":
            targets = torch.nn.functional.one_hot(targets, self._num_classes or 1)
        per_class_scores = scores.reshape(len(scores), -1).T  # (classes, samples)
        per_class_targets = targets.reshape(len(targets), -1).T
        if self.class_mean == "micro":
            per_class_scores, per_class_targets = per_class_scores.reshape(1, -1), per_class_targets.reshape(1, -1)
        thresholds = None if self.rec_thresholds is None else self.rec_thresholds.to(scores.device)
        values = torch.stack(
            [
                _area(*_recall_precision(class_scores, class_targets), thresholds)
                for class_scores, class_targets in zip(per_class_scores, per_class_targets)
            ]
        )
        if self._type == "binary":
            return float(values[0])
        if self.class_mean is None:
            return values
        if self.class_mean == "weighted":
            positives = per_class_targets.sum(dim=1).to(torch.float64)
            return (positives * values).sum() / positives.sum()
        return values.mean()
