"""Accuracy metrics (ignite's ``ignite.metrics.accuracy`` path): :class:`Accuracy` and :class:`TopKCategoricalAccuracy`.

The inputs are read as described in :mod:`ember.metrics.classification`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.metrics._classes import _ClassificationMetric, _shape
from ember.metrics.metric import Metric

__all__ = ["Accuracy", "TopKCategoricalAccuracy"]


class Accuracy(_ClassificationMetric):
    """The fraction of correct predictions: ``correct / total``.

    A sample counts as correct when its predicted class equals its label; for multilabel inputs
    only when every one of its labels is right (scikit-learn's subset accuracy); binary inputs of
    shape ``(N, L, ...)`` count every element.

    Args:
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        is_multilabel: ignite's spelling of ``task="multilabel"``.
        task: None (read from the shapes), ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        threshold: None (binary/multilabel ``y_pred`` must hold 0/1), or the score at or above
            which a binary/multilabel prediction is positive (0.5 for probabilities, 0.0 for logits).

    >>> accuracy = Accuracy()
    >>> accuracy.update((torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([1, 0, 0])))
    >>> round(accuracy.compute(), 4)
    0.6667
    >>> binary = Accuracy(threshold=0.5)
    >>> binary.update((torch.tensor([0.9, 0.2, 0.4]), torch.tensor([1, 0, 1])))
    >>> round(binary.compute(), 4)
    0.6667
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"correct": "_num_correct", "total": "_num_examples"}

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        is_multilabel: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        *,
        task: str | None = None,
        threshold: float | None = None,
    ) -> None:
        super().__init__(task, None, threshold, is_multilabel, output_transform, device, skip_unrolling)
        self.add_state("correct", torch.tensor(0), reduction="sum")
        self.add_state("total", torch.tensor(0), reduction="sum")
        self.correct: torch.Tensor
        self.total: torch.Tensor
        self._kind: str | None = None

    def reset(self) -> None:
        """Forget everything seen, including the kind of inputs (binary, multiclass, multilabel)."""
        super().reset()
        self._kind = None

    def update(self, output: Any) -> None:
        """Count the correct predictions of one batch."""
        kind, predicted, y = self._read(output)
        if self._kind is None:
            self._kind = kind
        elif kind != self._kind:
            raise ValueError(
                f"Accuracy got {kind} inputs y_pred {_shape(output[0])} and y {_shape(output[1])} after {self._kind} "
                "ones. Keep one kind of input between resets, or pass task=... to read them all one way."
            )
        right = predicted == y
        if kind == "multilabel":
            right = right.all(dim=1)
        self.correct += right.sum()
        self.total += right.numel()

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """Correct over total, as a float."""
        return float(state["correct"]) / max(int(state["total"]), 1)


class TopKCategoricalAccuracy(Metric):
    """The fraction of samples whose true class is among the ``k`` highest scores.

    Inputs: scores ``y_pred`` of shape ``(N, C)`` and labels ``y`` of shape ``(N,)``.

    >>> top2 = TopKCategoricalAccuracy(k=2)
    >>> top2.update((torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]), torch.tensor([1, 0])))
    >>> top2.compute()
    0.5
    """

    def __init__(
        self,
        k: int = 5,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(
                f"TopKCategoricalAccuracy k must be an integer, got {k!r} ({type(k).__name__}). Pass e.g. k=5."
            )
        if k < 1:
            raise ValueError(f"TopKCategoricalAccuracy k must be a positive integer, got k={k!r}.")
        self.k = k
        self.add_state("correct", torch.tensor(0), reduction="sum")
        self.add_state("total", torch.tensor(0), reduction="sum")
        self.correct: torch.Tensor
        self.total: torch.Tensor

    def update(self, output: Any) -> None:
        """Count the samples whose label is among the top k scores."""
        y_pred, y = self._unpack_pair(output)
        if y_pred.dim() != 2 or y.shape != y_pred.shape[:1]:
            raise ValueError(
                f"TopKCategoricalAccuracy expects scores y_pred (N, C) and labels y (N,), got y_pred "
                f"{_shape(y_pred)} and y {_shape(y)}."
            )
        if y_pred.shape[1] < self.k:
            raise ValueError(
                f"TopKCategoricalAccuracy with k={self.k} needs at least {self.k} classes, got y_pred "
                f"{_shape(y_pred)}. Pass a smaller k."
            )
        top = y_pred.topk(self.k, dim=1).indices
        self.correct += (top == y.unsqueeze(1)).any(dim=1).sum()
        self.total += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """Hits over samples, as a float."""
        return float(state["correct"]) / max(int(state["total"]), 1)
