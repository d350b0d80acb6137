"""Classification metrics: accuracy, precision, recall, F-beta, confusion matrix, top-k accuracy.

Inputs are ``(y_pred, y)`` pairs, read by their shapes:

- **multiclass scores**: ``y_pred`` of shape ``(N, C, ...)`` (logits or probabilities) with labels
  ``y`` of shape ``(N, ...)``; the predicted class is the arg-max over dimension 1.
- **binary**: ``y_pred`` and ``y`` of the same shape; a floating ``y_pred`` holds probabilities of
  the positive class and is thresholded (``>= threshold``), an integer or boolean one holds 0/1
  labels.
- **multiclass labels**: ``y_pred`` and ``y`` of the same shape, integer class indices, with
  ``task="multiclass"``.
- **multilabel**: ``y_pred`` and ``y`` of shape ``(N, C, ...)`` with ``task="multilabel"``: ``y``
  holds 0/1 per label, ``y_pred`` probabilities (thresholded) or 0/1.

Every update is a handful of vectorised tensor operations on the metric's device; values are only
read back to Python in ``compute()``. Label values are not range-checked element by element (that
would synchronise with the device each update), except where a count comes out longer than the
number of classes.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.metrics.metric import Metric

__all__ = ["Accuracy", "ConfusionMatrix", "Fbeta", "Precision", "Recall", "TopKCategoricalAccuracy"]

_TASKS = (None, "binary", "multiclass", "multilabel")
_AVERAGES = (None, "micro", "macro", "weighted")


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


class _ClassificationMetric(Metric):
    """Shared input reading: task detection, thresholding, and a fixed number of classes."""

    def __init__(
        self,
        task: str | None,
        num_classes: int | None,
        threshold: float,
        output_transform: Callable[[Any], Any] | None,
        device: str | torch.device,
    ) -> None:
        super().__init__(output_transform, device)
        if task not in _TASKS:
            raise ValueError(
                f"{type(self).__name__} task must be one of {list(_TASKS)}, got task={task!r}. "
                "Leave it None to read the task from the input shapes."
            )
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
            raise TypeError(f"{type(self).__name__} num_classes must be an int or None, got {num_classes!r}.")
        if num_classes is not None and num_classes < 2:
            raise ValueError(
                f"{type(self).__name__} num_classes must be at least 2, got num_classes={num_classes}. "
                "For a yes/no problem use binary inputs (task='binary')."
            )
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(
                f"{type(self).__name__} threshold must be a number between 0 and 1, got {threshold!r} "
                f"({type(threshold).__name__}). Pass e.g. threshold=0.5."
            )
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"{type(self).__name__} threshold must be between 0 and 1, got threshold={threshold!r}.")
        self.task = task
        self.num_classes = num_classes
        self.threshold = threshold

    def _check_classes(self, classes: int, what: str) -> None:
        """Fix the number of classes on first sight; a later change is an error."""
        if self.num_classes is None:
            self.num_classes = classes
            self._on_num_classes(classes)
        elif classes != self.num_classes:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_classes} classes, but {what} has {classes}. The number of "
                "classes cannot change between updates; pass num_classes to fix it, or reset with a new metric."
            )

    def _on_num_classes(self, classes: int) -> None:
        """Called once the number of classes is known (subclasses size their state here)."""

    def _binarise(self, y_pred: torch.Tensor) -> torch.Tensor:
        if y_pred.is_floating_point():
            return y_pred >= self.threshold
        return y_pred

    def _read(self, output: Any) -> tuple[str, torch.Tensor, torch.Tensor]:
        """``(kind, predicted, y)``: kind is 'binary', 'multiclass' or 'multilabel'; predicted is labels or 0/1."""
        y_pred, y = self._unpack_pair(output)
        name = type(self).__name__
        if y.is_floating_point() and self.task != "multilabel":
            raise TypeError(
                f"{name} expects integer or boolean labels y, got a {y.dtype} tensor of shape {_shape(y)}. "
                "Convert them with y.long()."
            )
        if self.task == "multilabel":
            if y_pred.shape != y.shape or y.dim() < 2:
                raise ValueError(
                    f"{name} with task='multilabel' expects y_pred and y of the same shape (N, C, ...), got y_pred "
                    f"{_shape(y_pred)} and y {_shape(y)}. Give one 0/1 column per label in both."
                )
            self._check_classes(y.shape[1], f"y of shape {_shape(y)}")
            return "multilabel", self._binarise(y_pred).long(), y.long()
        if y_pred.dim() == y.dim() + 1:
            if self.task == "binary":
                raise ValueError(
                    f"{name} with task='binary' expects y_pred of the same shape as y, got multiclass scores "
                    f"y_pred {_shape(y_pred)} with y {_shape(y)}. Pass the positive-class probabilities "
                    "(e.g. y_pred[:, 1]) or use task='multiclass'."
                )
            if y_pred.shape[0] != y.shape[0] or y_pred.shape[2:] != y.shape[1:]:
                raise ValueError(
                    f"{name} got multiclass scores y_pred {_shape(y_pred)} with labels y {_shape(y)}; expected y of "
                    f"shape {(y_pred.shape[0], *y_pred.shape[2:])} (y_pred without its class dimension 1)."
                )
            self._check_classes(y_pred.shape[1], f"y_pred of shape {_shape(y_pred)}")
            return "multiclass", y_pred.argmax(dim=1), y
        if y_pred.shape == y.shape:
            if self.task == "multiclass":
                if y_pred.is_floating_point():
                    raise TypeError(
                        f"{name} with task='multiclass' and y_pred of y's shape {_shape(y)} expects integer class "
                        f"labels, got {y_pred.dtype}. Pass scores of shape (N, C, ...) or labels as integers."
                    )
                return "multiclass", y_pred, y
            return "binary", self._binarise(y_pred).long(), y
        raise ValueError(
            f"{name} got y_pred of shape {_shape(y_pred)} and y of shape {_shape(y)}, which do not fit. "
            "Expected y_pred of y's shape (binary or labels) or with one more dimension 1 of class scores, "
            "e.g. y_pred (N, C) with y (N,)."
        )


class Accuracy(_ClassificationMetric):
    """The fraction of correct predictions (for multilabel inputs: of samples with every label right).

    Args:
        task: None (read from the shapes), ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        threshold: probability at or above which a floating binary/multilabel prediction is positive.
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> accuracy = Accuracy()
    >>> accuracy.update((torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([1, 0, 0])))
    >>> round(accuracy.compute(), 4)
    0.6667
    """

    def __init__(
        self,
        task: str | None = None,
        threshold: float = 0.5,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(task, None, threshold, output_transform, device)
        self.add_state("correct", torch.tensor(0), reduction="sum")
        self.add_state("total", torch.tensor(0), reduction="sum")
        self.correct: torch.Tensor
        self.total: torch.Tensor

    def update(self, output: Any) -> None:
        """Count the correct predictions of one batch."""
        kind, predicted, y = self._read(output)
        right = predicted == y
        if kind == "multilabel":
            right = right.all(dim=1)
        self.correct += right.sum()
        self.total += right.numel()

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """Correct over total, as a float."""
        return float(state["correct"]) / max(int(state["total"]), 1)


class _ClassCounts(_ClassificationMetric):
    """Per-class counts of true positives, predicted positives and actual positives.

    Binary inputs count both classes (0 and 1), as scikit-learn does with its labels.
    """

    def __init__(
        self,
        average: str | None = None,
        task: str | None = None,
        num_classes: int | None = None,
        threshold: float = 0.5,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(task, num_classes, threshold, output_transform, device)
        if average not in _AVERAGES:
            raise ValueError(
                f"{type(self).__name__} average must be one of {list(_AVERAGES)}, got average={average!r}. "
                "None gives the positive class for binary inputs and one value per class otherwise."
            )
        if task == "binary" and num_classes not in (None, 2):
            raise ValueError(f"{type(self).__name__} with task='binary' has 2 classes, got num_classes={num_classes}.")
        self.average = average
        self._binary: bool | None = True if task == "binary" else (False if task is not None else None)
        size = 2 if task == "binary" else (num_classes or 0)
        for name in ("true_positives", "predicted_positives", "actual_positives"):
            self.add_state(name, torch.zeros(size, dtype=torch.int64), reduction="sum")
        self.true_positives: torch.Tensor
        self.predicted_positives: torch.Tensor
        self.actual_positives: torch.Tensor

    def _on_num_classes(self, classes: int) -> None:
        for name in ("true_positives", "predicted_positives", "actual_positives"):
            self.add_state(name, torch.zeros(classes, dtype=torch.int64), reduction="sum")

    def _count(self, labels: torch.Tensor, classes: int, what: str) -> torch.Tensor:
        counts = torch.bincount(labels, minlength=classes)
        if counts.shape[0] > classes:
            fix = (
                "These inputs read as binary 0/1 labels; for class labels pass task='multiclass' and num_classes."
                if self._binary
                else "Pass num_classes that covers every label."
            )
            raise ValueError(
                f"{type(self).__name__} got {what} up to {counts.shape[0] - 1}, but has {classes} classes "
                f"(labels 0 to {classes - 1}). {fix}"
            )
        return counts

    def update(self, output: Any) -> None:
        """Add one batch's per-class counts."""
        kind, predicted, y = self._read(output)
        is_binary = kind == "binary"
        if self._binary is None:
            self._binary = is_binary
        elif self._binary != is_binary:
            raise ValueError(
                f"{type(self).__name__} got {kind} inputs after {'binary' if self._binary else 'non-binary'} ones "
                f"(y_pred {_shape(predicted)}, y {_shape(y)}). Keep one kind of input per metric, or pass task=..."
            )
        if kind == "multilabel":
            classes = y.shape[1]
            predicted = predicted.movedim(1, -1).reshape(-1, classes)
            y = y.movedim(1, -1).reshape(-1, classes)
            self.true_positives += (predicted * y).sum(dim=0)
            self.predicted_positives += predicted.sum(dim=0)
            self.actual_positives += y.sum(dim=0)
            return
        if kind == "binary":
            if self.task is None and self.num_classes not in (None, 2):
                raise ValueError(
                    f"{type(self).__name__} with num_classes={self.num_classes} got y_pred {_shape(predicted)} and "
                    f"y {_shape(y)} of the same shape, which read as binary 0/1 inputs. Pass task='multiclass' "
                    f"for class labels, or class scores of shape (N, {self.num_classes})."
                )
            classes = 2
            self._check_classes(2, "binary input")
        else:
            if self.num_classes is None:
                raise ValueError(
                    f"{type(self).__name__} got class labels y_pred {_shape(predicted)} without knowing the number "
                    "of classes. Pass num_classes=..., or pass scores of shape (N, C)."
                )
            classes = self.num_classes
        predicted = predicted.reshape(-1).long()
        y = y.reshape(-1).long()
        # Wrong predictions go to an extra bin ``classes`` that is cut off: no boolean indexing, no sync.
        hits = torch.where(predicted == y, y, classes)
        predicted_counts = self._count(predicted, classes, "predicted labels")
        actual_counts = self._count(y, classes, "labels y")
        # Labels are in range now, so the extra bin holds exactly the misses.
        self.true_positives += torch.bincount(hits, minlength=classes + 1)[:classes]
        self.predicted_positives += predicted_counts
        self.actual_positives += actual_counts

    def state_dict(self) -> dict[str, Any]:
        """The counts (this rank's), the update count, and the number and kind of classes seen."""
        saved = super().state_dict()
        saved["num_classes"] = self.num_classes
        saved["binary"] = self._binary
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the counts and the number and kind of classes saved by :meth:`state_dict`."""
        super().load_state_dict(state_dict)
        saved_classes = state_dict.get("num_classes")
        if saved_classes is not None:
            if self.num_classes is None:
                # The defaults are still empty: size them, so that a later reset() keeps the loaded
                # number of classes instead of going back to no classes at all.
                loaded = {name: getattr(self, name) for name in self._defaults}
                self._on_num_classes(int(saved_classes))
                for name, value in loaded.items():
                    setattr(self, name, value)
            self.num_classes = int(saved_classes)
        if state_dict.get("binary") is not None:
            self._binary = bool(state_dict["binary"])

    @abstractmethod
    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The metric for each class, from counts of shape (C,)."""

    def _micro(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = {name: value.sum().reshape(1) for name, value in state.items()}
        return self._per_class(total)[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> Any:
        """The per-class values, or their average, per ``average``."""
        state = {name: value.double() for name, value in state.items()}
        if self.average == "micro":
            return float(self._micro(state))
        per_class = self._per_class(state)
        if self.average is None:
            return float(per_class[1]) if self._binary else per_class
        if self.average == "macro":
            return float(per_class.mean())
        support = state["actual_positives"]
        return float((per_class * support).sum() / support.sum()) if float(support.sum()) > 0 else 0.0


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator))


_COUNTS_ARGS = """
    Args:
        average: None (the positive class's value for binary inputs, one value per class as a
            float64 tensor otherwise), ``"micro"`` (from counts summed over classes), ``"macro"``
            (mean over all classes) or ``"weighted"`` (mean weighted by each class's support).
            A class with a zero denominator counts as 0.
        task: None (read from the shapes), ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        num_classes: needed for multiclass labels; otherwise taken from the first scores seen.
        threshold: probability at or above which a floating binary/multilabel prediction is positive.
        output_transform, device: see :class:`~ember.metrics.Metric`.
"""


class Precision(_ClassCounts):
    """Precision: of the samples predicted as a class, the fraction that belong to it.
    {args}
    >>> precision = Precision()
    >>> precision.update((torch.tensor([1, 1, 1, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(precision.compute(), 4)
    0.6667
    """

    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return _ratio(state["true_positives"], state["predicted_positives"])


class Recall(_ClassCounts):
    """Recall: of the samples of a class, the fraction predicted as that class.
    {args}
    >>> recall = Recall()
    >>> recall.update((torch.tensor([1, 1, 1, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(recall.compute(), 4)
    0.6667
    """

    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return _ratio(state["true_positives"], state["actual_positives"])


class Fbeta(_ClassCounts):
    """The F-beta score: ``(1 + beta²)·P·R / (beta²·P + R)``; ``beta=1`` gives F1.

    Computed from the counts (``(1 + beta²)·TP / (beta²·actual + predicted)``), per class before
    averaging, as scikit-learn's ``fbeta_score``.

    Args:
        beta: weight of recall against precision, positive.
    {args}
    >>> f1 = Fbeta(beta=1.0)
    >>> f1.update((torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(f1.compute(), 4)
    0.4
    """

    def __init__(
        self,
        beta: float = 1.0,
        average: str | None = None,
        task: str | None = None,
        num_classes: int | None = None,
        threshold: float = 0.5,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise TypeError(f"Fbeta beta must be a number, got {beta!r} ({type(beta).__name__}). Use beta=1.0 for F1.")
        if not beta > 0:
            raise ValueError(f"Fbeta beta must be a positive number, got beta={beta!r}. Use beta=1.0 for F1.")
        super().__init__(average, task, num_classes, threshold, output_transform, device)
        self.beta = float(beta)

    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        beta2 = self.beta**2
        denominator = beta2 * state["actual_positives"] + state["predicted_positives"]
        return _ratio((1 + beta2) * state["true_positives"], denominator)


for _cls in (Precision, Recall, Fbeta):
    _cls.__doc__ = (_cls.__doc__ or "").replace("    {args}", _COUNTS_ARGS.rstrip("\n"))


class ConfusionMatrix(_ClassificationMetric):
    """The confusion matrix: entry ``[i, j]`` counts samples of class ``i`` predicted as class ``j``.

    Args:
        num_classes: the number of classes C (2 for binary inputs).
        normalize: None (counts, int64), ``"true"`` (each row sums to 1), ``"pred"`` (each column
            sums to 1) or ``"all"`` (the matrix sums to 1), as scikit-learn's ``confusion_matrix``;
            an all-zero row or column stays 0.
        task, threshold, output_transform, device: see :class:`Accuracy`.

    >>> matrix = ConfusionMatrix(num_classes=3)
    >>> matrix.update((torch.tensor([[2.0, 0.1, 0.3], [0.2, 0.1, 0.9]]), torch.tensor([0, 1])))
    >>> matrix.compute()
    tensor([[1, 0, 0],
            [0, 0, 1],
            [0, 0, 0]])
    """

    def __init__(
        self,
        num_classes: int,
        normalize: str | None = None,
        task: str | None = None,
        threshold: float = 0.5,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if task == "multilabel":
            raise ValueError(
                "ConfusionMatrix counts one label per sample, got task='multilabel'. Use one ConfusionMatrix per "
                "label (each with binary inputs), or Precision/Recall with task='multilabel'."
            )
        if num_classes is None:
            raise TypeError("ConfusionMatrix needs num_classes, the number of classes C, got None.")
        super().__init__(task, num_classes, threshold, output_transform, device)
        if normalize not in (None, "true", "pred", "all"):
            raise ValueError(
                f"ConfusionMatrix normalize must be None, 'true', 'pred' or 'all', got normalize={normalize!r}."
            )
        self.normalize = normalize
        self.add_state("matrix", torch.zeros(num_classes, num_classes, dtype=torch.int64), reduction="sum")
        self.matrix: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's (true, predicted) pairs to the matrix."""
        kind, predicted, y = self._read(output)
        classes = self.matrix.shape[0]
        if kind == "binary" and classes != 2:
            raise ValueError(
                f"ConfusionMatrix with num_classes={classes} got binary inputs y_pred {_shape(predicted)} and "
                f"y {_shape(y)}. Pass class scores of shape (N, {classes}), or labels with task='multiclass'."
            )
        predicted = predicted.reshape(-1).long()
        cells = y.reshape(-1).long() * classes + predicted
        if output[0].dim() == output[1].dim():  # given labels, not scores (whose arg-max is in range)
            # A predicted label >= classes would alias into the next row's cells: send it past the
            # last cell instead, so that the count's length reveals it (no read from the device).
            cells = torch.where(predicted < classes, cells, classes * classes)
        counts = torch.bincount(cells, minlength=classes * classes)
        if counts.shape[0] > classes * classes:
            raise ValueError(
                f"ConfusionMatrix has {classes} classes (labels 0 to {classes - 1}) but got a larger label in y or "
                "y_pred. Pass num_classes that covers every label."
            )
        self.matrix += counts.reshape(classes, classes)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The matrix (rows: true class, columns: predicted class), normalised per ``normalize``."""
        matrix = state["matrix"]
        if self.normalize is None:
            return matrix
        counts = matrix.double()
        if self.normalize == "true":
            return _ratio(counts, counts.sum(dim=1, keepdim=True).expand_as(counts))
        if self.normalize == "pred":
            return _ratio(counts, counts.sum(dim=0, keepdim=True).expand_as(counts))
        return _ratio(counts, counts.sum().expand_as(counts))


class TopKCategoricalAccuracy(Metric):
    """The fraction of samples whose true class is among the ``k`` highest scores.

    Inputs: scores ``y_pred`` of shape ``(N, C)`` and labels ``y`` of shape ``(N,)``.

    >>> top2 = TopKCategoricalAccuracy(k=2)
    >>> top2.update((torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]), torch.tensor([1, 0])))
    >>> top2.compute()
    0.5
    """

    def __init__(
        self, k: int = 5, output_transform: Callable[[Any], Any] | None = None, device: str | torch.device = "cpu"
    ) -> None:
        super().__init__(output_transform, device)
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
