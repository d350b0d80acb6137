"""Cohen's kappa, unweighted or with linear/quadratic weights (ignite's ``cohen_kappa``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics.epoch_metric import EpochMetric

__all__ = ["CohenKappa"]

_WEIGHTS = (None, "linear", "quadratic")


def _disagreement_weights(classes: int, weights: str) -> torch.Tensor:
    """How much each (true, predicted) pair of classes disagrees (``"linear"``/``"quadratic"``), at most 1."""
    index = torch.arange(classes, dtype=torch.float64)
    distance = (index[:, None] - index[None, :]).abs()
    penalty = distance if weights == "linear" else distance**2
    return penalty / penalty.max()  # 0/0 (one class) is nan, as ignite's


def kappa_of_confusion(confusion: torch.Tensor, weights: str | None) -> float:
    """Kappa from a confusion matrix (rows: true classes, columns: predicted): ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the observed agreement and ``p_e`` the agreement expected by chance (one minus the
    weighted disagreement when ``weights`` is given). The sums run in ignite's order, so the value is
    ignite's to the last bit; ``1 - p_e`` is floored at 1e-9, so a single class gives 0 (as ignite's).
    """
    total = confusion.sum()
    if total == 0:
        raise NotComputableError("CohenKappa needs at least one sample before compute() can give a value.")
    true_counts, predicted_counts = confusion.sum(dim=1), confusion.sum(dim=0)
    if weights is None:
        observed = confusion.trace() / total
        chance = (true_counts * predicted_counts).sum() / (total * total)
    else:
        penalty = _disagreement_weights(confusion.shape[0], weights)
        observed = 1 - (penalty * confusion).sum() / total
        chance = 1 - (penalty * (torch.outer(true_counts, predicted_counts) / total)).sum() / total
    return float((observed - chance) / (1 - chance).clamp(min=1e-9))


class CohenKappa(EpochMetric):
    """Cohen's kappa between predicted and true class indices, over an epoch.

    ``y_pred`` and ``y`` are class indices of shape ``(N,)`` (or ``(N, 1)``). The value is
    ``1 - observed / expected`` disagreement, where each pair of classes disagrees by 1
    (``weights=None``), by ``|i - j|`` (``"linear"``) or by ``(i - j)²`` (``"quadratic"``), as
    scikit-learn's ``cohen_kappa_score``. The classes are ``0 .. max label`` seen, or
    ``0 .. num_classes - 1`` when ``num_classes`` is given (labels outside are then refused).
    All rows (of every rank) are kept until ``compute()``.

    Args:
        output_transform: picks ``(y_pred, y)`` from the engine's output.
        weights: None, ``"linear"`` or ``"quadratic"``.
        check_compute_fn: compute on the first batch and warn if that fails.
        device: where the kept rows live.
        skip_unrolling: see :class:`~ember.metrics.Metric`.
        num_classes: the number of classes, if known.

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> CohenKappa().attach(evaluator, "kappa")
    >>> y_true = torch.tensor([2, 0, 2, 2, 0, 1])
    >>> y_pred = torch.tensor([0, 0, 2, 2, 0, 2])
    >>> round(evaluator.run([(y_pred, y_true)]).metrics["kappa"], 4)
    0.4286
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        weights: str | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        num_classes: int | None = None,
    ) -> None:
        if weights not in _WEIGHTS:
            raise ValueError(
                f"CohenKappa weights must be None, 'linear' or 'quadratic', got {weights!r}. "
                "None counts every disagreement alike."
            )
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
            raise TypeError(f"CohenKappa num_classes must be an integer or None, got {num_classes!r}.")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"CohenKappa num_classes must be at least 1, got {num_classes}.")
        self.weights = weights
        self.num_classes = num_classes
        super().__init__(self._kappa, output_transform, check_compute_fn, device, skip_unrolling)

    def _kappa(self, y_preds: torch.Tensor, y_targets: torch.Tensor) -> float:
        if y_preds.numel() == 0:
            raise NotComputableError("CohenKappa needs at least one sample before compute() can give a value.")
        y_preds, y_targets = y_preds.long(), y_targets.long()
        classes = self.num_classes or int(max(int(y_preds.max()), int(y_targets.max()))) + 1
        pairs = torch.bincount(y_targets * classes + y_preds, minlength=classes * classes)
        return kappa_of_confusion(pairs.reshape(classes, classes).to(torch.float64), self.weights)

    def update(self, output: Any) -> None:
        """Keep one batch's class indices, after checking their shape and range."""
        y_pred, y = self._unpack_pair(output)
        y_pred = y_pred.squeeze(1) if y_pred.dim() == 2 and y_pred.shape[1] == 1 else y_pred
        y = y.squeeze(1) if y.dim() == 2 and y.shape[1] == 1 else y
        if y_pred.dim() != 1 or y.shape != y_pred.shape:
            raise ValueError(
                f"CohenKappa takes class indices y_pred and y of the same shape (N,), got y_pred "
                f"{tuple(y_pred.shape)} and y {tuple(y.shape)}. Pass y_pred.argmax(dim=1) for scores; "
                "multilabel inputs are not supported."
            )
        if y.numel() and (min(int(y.min()), int(y_pred.min())) < 0):
            raise ValueError("CohenKappa takes class indices >= 0, got a negative label.")
        highest = max(int(y.max()), int(y_pred.max())) if y.numel() else -1
        if self.num_classes is not None and highest >= self.num_classes:
            raise ValueError(
                f"CohenKappa has num_classes={self.num_classes}, but got the class index {highest}. "
                "Pass a larger num_classes, or fix the labels."
            )
        super().update((y_pred, y))
