"""Classification metrics: accuracy, precision, recall, F-beta, confusion matrix, top-k accuracy.

Inputs are ``(y_pred, y)`` pairs, read by their shapes:

- **multiclass scores**: ``y_pred`` of shape ``(N, C, ...)`` (logits or probabilities) with labels
  ``y`` of shape ``(N, ...)``; the predicted class is the arg-max over dimension 1.
- **binary**: ``y_pred`` and ``y`` of the same shape (or ``y_pred`` of shape ``(N, 1, ...)``, read
  as ``(N, ...)``), ``y`` holding 0/1. ``y_pred`` holds 0/1 predictions, or scores read with the
  ``threshold`` you pass (``threshold=0.5`` for probabilities, ``threshold=0.0`` for logits:
  positive where ``y_pred >= threshold``). Without a threshold, a ``y_pred`` with other values
  than 0 and 1 is an error, never silently rounded.
- **multiclass labels**: ``y_pred`` and ``y`` of the same shape, integer class indices, with
  ``task="multiclass"``.
- **multilabel**: ``y_pred`` and ``y`` of shape ``(N, C, ...)`` with ``task="multilabel"`` (ignite's
  ``is_multilabel=True``): ``y`` holds 0/1 per label, ``y_pred`` 0/1 or scores with a ``threshold``.

Labels ``y`` may be floating if their values are whole numbers (``1.0``); fractional labels are an
error. Checking values costs one read from the device per update (a synchronisation on a GPU),
and is done only where the shapes leave the reading open: binary and multilabel inputs without a
threshold, and floating labels. Multiclass scores with integer labels — the common case — are
never read back, so their updates stay asynchronous.
"""

from __future__ import annotations

import inspect
import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember import distributed
from ember.metrics.metric import Metric, MetricsLambda

__all__ = [
    "Accuracy",
    "ConfusionMatrix",
    "DiceCoefficient",
    "Fbeta",
    "IoU",
    "JaccardIndex",
    "Precision",
    "Recall",
    "TopKCategoricalAccuracy",
    "cmAccuracy",
    "cmPrecision",
    "cmRecall",
    "mIoU",
]

_TASKS = (None, "binary", "multiclass", "multilabel")
_AVERAGES = (None, False, True, "micro", "macro", "weighted", "samples")


def _shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


def _not_zero_one(tensor: torch.Tensor) -> torch.Tensor:
    """A 0-dimensional bool tensor: does ``tensor`` hold a value other than 0 and 1? (no device read)"""
    return ((tensor != 0) & (tensor != 1)).any()


def _value_range(tensor: torch.Tensor) -> str:
    low, high = tensor.min().item(), tensor.max().item()
    return f"{low:.4g} to {high:.4g}" if isinstance(low, float) else f"{low} to {high}"


class _ClassificationMetric(Metric):
    """Shared input reading: task detection, value checks, thresholding, and a fixed number of classes."""

    def __init__(
        self,
        task: str | None,
        num_classes: int | None,
        threshold: float | None,
        is_multilabel: bool,
        output_transform: Callable[[Any], Any] | None,
        device: str | torch.device,
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        name = type(self).__name__
        if not isinstance(is_multilabel, bool):
            raise TypeError(f"{name} is_multilabel must be True or False, got {is_multilabel!r}.")
        if task not in _TASKS:
            raise ValueError(
                f"{name} task must be one of {list(_TASKS)}, got task={task!r}. "
                "Leave it None to read the task from the input shapes."
            )
        if is_multilabel:
            if task not in (None, "multilabel"):
                raise ValueError(
                    f"{name} got is_multilabel=True with task={task!r}. Pass one of them: is_multilabel=True "
                    "is ignite's spelling of task='multilabel'."
                )
            task = "multilabel"
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)):
            raise TypeError(f"{name} num_classes must be an int or None, got {num_classes!r}.")
        if num_classes is not None and num_classes < 2:
            raise ValueError(
                f"{name} num_classes must be at least 2, got num_classes={num_classes}. "
                "For a yes/no problem use binary inputs (task='binary')."
            )
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise TypeError(
                    f"{name} threshold must be a number or None, got {threshold!r} ({type(threshold).__name__}). "
                    "Pass threshold=0.5 for probabilities, threshold=0.0 for logits."
                )
            if not math.isfinite(threshold):
                raise ValueError(f"{name} threshold must be a finite number, got threshold={threshold!r}.")
        self.task = task
        self.num_classes = num_classes
        self._given_classes = num_classes
        self.threshold = threshold
        self._is_multilabel = task == "multilabel"

    def reset(self) -> None:
        """Forget everything seen, including a number of classes read from the inputs (as ignite does).

        A ``num_classes`` passed to the constructor is kept.
        """
        if hasattr(self, "_given_classes") and self.num_classes != self._given_classes:
            self.num_classes = self._given_classes
            self._on_forget_classes()
        super().reset()

    def _on_forget_classes(self) -> None:
        """Called by :meth:`reset` when the number of classes read from the inputs is forgotten."""

    def _check_classes(self, classes: int, what: str, tensor: torch.Tensor | None = None) -> None:
        """Fix the number of classes on first sight; a later change is an error.

        ``what`` names the input that has ``classes`` (with ``tensor``'s shape in the message); the
        message is only built on error, since this runs on every update.
        """
        if self.num_classes is None:
            self.num_classes = classes
            self._on_num_classes(classes)
        elif classes != self.num_classes:
            if tensor is not None:
                what = f"{what} of shape {_shape(tensor)}"
            raise ValueError(
                f"{type(self).__name__} expects {self.num_classes} classes, but {what} has {classes}. The number of "
                f"classes cannot change between resets. {self._classes_fix()}"
            )

    def _classes_fix(self) -> str:
        """How to fix a change in the number of classes, for this metric's parameters."""
        batches = "give every batch the same number of classes, or call reset() before inputs with another number."
        if self._given_classes is not None:
            return f"This metric was built with num_classes={self._given_classes}: {batches}"
        if "num_classes" in inspect.signature(type(self)).parameters:
            return f"Pass num_classes=<the number of classes> when the inputs are class labels, or {batches}"
        return f"{batches[0].upper()}{batches[1:]}"

    def _on_num_classes(self, classes: int) -> None:
        """Called once the number of classes is known (subclasses size their state here)."""

    def _whole_labels(self, y: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        """Floating labels as integers, if they are whole numbers (one device read)."""
        if bool((y != y.round()).any()):
            raise ValueError(
                f"{type(self).__name__} expects labels y of whole numbers, got a {y.dtype} tensor of shape "
                f"{_shape(y)} with fractional values (y_pred {_shape(y_pred)}). Pass class indices or 0/1 targets, "
                "e.g. y.long() if the fractions are not meant."
            )
        return y.long()

    def _predicted_zero_one(
        self, y_pred: torch.Tensor, y: torch.Tensor, kind: str, given: torch.Tensor
    ) -> torch.Tensor:
        """Binary or multilabel ``y_pred`` as 0/1 (thresholded if a threshold is set); checks y too.

        ``given`` is y_pred as the user passed it (before a class dimension of 1 was dropped).
        """
        name = type(self).__name__
        flags = []
        y_flag = None if y.dtype == torch.bool else _not_zero_one(y)
        if y_flag is not None:
            flags.append(y_flag)
        if self.threshold is not None and y_pred.dtype != torch.bool:
            predicted = y_pred >= self.threshold
            pred_flag = None
        else:
            predicted = y_pred
            pred_flag = None if y_pred.dtype == torch.bool else _not_zero_one(y_pred)
            if pred_flag is not None:
                flags.append(pred_flag)
        if flags and bool(torch.stack(flags).any()):  # the one device read of the check
            reading = f"{name} reads y_pred {_shape(given)} and y {_shape(y)} as {kind} inputs" + (
                " (task='multilabel')" if kind == "multilabel" else ""
            )
            if y_flag is not None and bool(y_flag):
                fix = (
                    "Give one 0/1 target per label."
                    if kind == "multilabel"
                    else "For class labels pass scores of shape (N, C), or labels with task='multiclass' "
                    "and num_classes."
                )
                raise ValueError(
                    f"{reading}, so y must hold only 0 and 1, but it holds values from {_value_range(y)}. {fix}"
                )
            if y_pred.is_floating_point():
                fix = (
                    "Pass threshold=0.5 if y_pred holds probabilities, threshold=0.0 if it holds logits, or "
                    "round it yourself."
                )
                if kind == "binary" and y.dim() >= 2 and y.shape[1] > 1 and bool((y.sum(dim=1) == 1).all()):
                    fix += (
                        " y looks one-hot: for class scores y_pred (N, C) pass the class indices y.argmax(dim=1); "
                        "for several labels per sample pass is_multilabel=True with a threshold."
                    )
            else:
                fix = "For class labels pass task='multiclass' and num_classes, or scores of shape (N, C)."
            raise ValueError(
                f"{reading}, so y_pred must hold only 0 and 1, but it holds values from {_value_range(y_pred)}. {fix}"
            )
        return predicted.long()

    def _read(self, output: Any) -> tuple[str, torch.Tensor, torch.Tensor]:
        """``(kind, predicted, y)``: kind is 'binary', 'multiclass' or 'multilabel'; predicted is labels or 0/1."""
        y_pred, y = self._unpack_pair(output)
        name = type(self).__name__
        task = self.task
        given = y_pred
        if y_pred.dim() == y.dim() + 1 and y_pred.shape[1] == 1 and task in (None, "binary"):
            # One score column per sample is a binary prediction (as ignite reads it), not one class.
            y_pred = y_pred.squeeze(1)
        if y.is_floating_point():
            y = self._whole_labels(y, y_pred)
        if task == "multilabel":
            if y_pred.shape != y.shape or y.dim() < 2:
                raise ValueError(
                    f"{name} with task='multilabel' expects y_pred and y of the same shape (N, C, ...), got y_pred "
                    f"{_shape(y_pred)} and y {_shape(y)}. Give one 0/1 column per label in both."
                )
            self._check_classes(y.shape[1], "y", y)
            return "multilabel", self._predicted_zero_one(y_pred, y, "multilabel", given), y.long()
        if y_pred.dim() == y.dim() + 1:
            if task == "binary":
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
            self._check_classes(y_pred.shape[1], "y_pred", y_pred)
            return "multiclass", y_pred.argmax(dim=1), y
        if y_pred.shape == y.shape:
            if task == "multiclass":
                if y_pred.is_floating_point():
                    raise TypeError(
                        f"{name} with task='multiclass' and y_pred of y's shape {_shape(y)} expects integer class "
                        f"labels, got {y_pred.dtype}. Pass scores of shape (N, C, ...) or labels as integers."
                    )
                return "multiclass", y_pred, y
            return "binary", self._predicted_zero_one(y_pred, y, "binary", given), y.long()
        raise ValueError(
            f"{name} got y_pred of shape {_shape(y_pred)} and y of shape {_shape(y)}, which do not fit. "
            "Expected y_pred of y's shape (binary or labels) or with one more dimension 1 of class scores, "
            "e.g. y_pred (N, C) with y (N,)."
        )


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


_COUNT_STATES = ("true_positives", "predicted_positives", "actual_positives")


class _ClassCounts(_ClassificationMetric):
    """Per-class counts of true positives, predicted positives and actual positives.

    Binary inputs count both classes (0 and 1), as scikit-learn does with its labels. Multilabel
    inputs with ``average="samples"`` also keep the sum of the per-sample values.
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        average: str | bool | None = False,
        is_multilabel: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        *,
        task: str | None = None,
        num_classes: int | None = None,
        threshold: float | None = None,
    ) -> None:
        super().__init__(task, num_classes, threshold, is_multilabel, output_transform, device, skip_unrolling)
        name = type(self).__name__
        if average not in _AVERAGES or (average is not None and not isinstance(average, (str, bool))):
            raise ValueError(
                f"{name} average must be one of {list(_AVERAGES)}, got average={average!r}. "
                "None gives the positive class for binary inputs and one value per class otherwise."
            )
        if average == "samples" and self.task not in (None, "multilabel"):
            raise ValueError(
                f"{name} average='samples' averages over the samples of multilabel inputs, but task={self.task!r}. "
                "Pass is_multilabel=True (or task='multilabel'), or another average."
            )
        if self.task == "binary" and num_classes not in (None, 2):
            raise ValueError(f"{name} with task='binary' has 2 classes, got num_classes={num_classes}.")
        self.average = average
        self._binary: bool | None = True if self.task == "binary" else (False if self.task is not None else None)
        self._given_binary = self._binary
        self._on_forget_classes()
        self.add_state("sample_sum", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("sample_count", torch.tensor(0), reduction="sum")
        self.true_positives: torch.Tensor
        self.predicted_positives: torch.Tensor
        self.actual_positives: torch.Tensor
        self.sample_sum: torch.Tensor
        self.sample_count: torch.Tensor

    def _on_num_classes(self, classes: int) -> None:
        for state in _COUNT_STATES:
            self.add_state(state, torch.zeros(classes, dtype=torch.int64), reduction="sum")

    def _on_forget_classes(self) -> None:
        self._on_num_classes(2 if self.task == "binary" else (self.num_classes or 0))

    def reset(self) -> None:
        """Forget everything seen, including the kind and number of classes read from the inputs (as ignite does)."""
        super().reset()
        if hasattr(self, "_given_binary"):
            self._binary = self._given_binary

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

    def _sample_values(
        self, true_positives: torch.Tensor, predicted: torch.Tensor, actual: torch.Tensor
    ) -> torch.Tensor:
        """The metric of each sample from its counts over the labels (for ``average='samples'``)."""
        counts = {"true_positives": true_positives, "predicted_positives": predicted, "actual_positives": actual}
        return self._per_class({name: value.double() for name, value in counts.items()})

    def update(self, output: Any) -> None:
        """Add one batch's per-class counts."""
        kind, predicted, y = self._read(output)
        name = type(self).__name__
        is_binary = kind == "binary"
        if self._binary is None:
            self._binary = is_binary
        elif self._binary != is_binary:
            raise ValueError(
                f"{name} got {kind} inputs after {'binary' if self._binary else 'non-binary'} ones "
                f"(y_pred {_shape(predicted)}, y {_shape(y)}). Keep one kind of input per metric, or pass task=..."
            )
        if self.average == "samples" and kind != "multilabel":
            raise ValueError(
                f"{name} average='samples' averages over the samples of multilabel inputs, but got {kind} inputs "
                f"y_pred {_shape(predicted)} and y {_shape(y)}. Pass is_multilabel=True with (N, C) 0/1 targets, "
                "or another average."
            )
        if kind == "multilabel":
            classes = y.shape[1]
            predicted = predicted.movedim(1, -1).reshape(-1, classes)
            y = y.movedim(1, -1).reshape(-1, classes)
            hits = predicted * y
            self.true_positives += hits.sum(dim=0)
            self.predicted_positives += predicted.sum(dim=0)
            self.actual_positives += y.sum(dim=0)
            if self.average == "samples":
                per_sample = self._sample_values(hits.sum(dim=1), predicted.sum(dim=1), y.sum(dim=1))
                self.sample_sum += per_sample.sum()
                self.sample_count += per_sample.shape[0]
            return
        if kind == "binary":
            if self.task is None and self.num_classes not in (None, 2):
                raise ValueError(
                    f"{name} with num_classes={self.num_classes} got y_pred {_shape(predicted)} and "
                    f"y {_shape(y)} of the same shape, which read as binary 0/1 inputs. Pass task='multiclass' "
                    f"for class labels, or class scores of shape (N, {self.num_classes})."
                )
            classes = 2
            self._check_classes(2, "binary input")
        else:
            if self.num_classes is None:
                raise ValueError(
                    f"{name} got class labels y_pred {_shape(predicted)} without knowing the number "
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

    def synced_state(self) -> dict[str, torch.Tensor]:
        """The counts combined across ranks, after the ranks agree on the number and kind of classes.

        A rank that saw no batch does not know how many classes there are: every rank shares what
        it knows first (one small collective), so that all count tensors have the same length.
        """
        if distributed.get_world_size() > 1:
            self._agree_on_classes()
        return super().synced_state()

    def _agree_on_classes(self) -> None:
        name = type(self).__name__
        kind = {None: 0, False: 1, True: 2}[self._binary]
        classes = self.num_classes or 0
        # max and -min of each value in one all_reduce: ranks that know must agree, others follow.
        known = torch.tensor([classes, kind, -(classes or 2**31), -(kind or 3)], dtype=torch.int64)
        most_classes, most_kind, least_classes, least_kind = distributed.all_reduce(known, op="max").tolist()
        least_classes, least_kind = -least_classes, -least_kind
        if most_classes and least_classes != 2**31 and least_classes != most_classes:
            raise ValueError(
                f"{name} saw {least_classes} classes on one rank and {most_classes} on another. Pass num_classes so "
                "that every rank counts the same classes."
            )
        if most_kind and least_kind != 3 and least_kind != most_kind:
            raise ValueError(
                f"{name} got binary inputs on one rank and non-binary ones on another. Pass task=... so that every "
                "rank reads its inputs the same way."
            )
        if self.num_classes is None and most_classes:
            counts = {state: getattr(self, state) for state in _COUNT_STATES}
            self.num_classes = most_classes
            self._on_num_classes(most_classes)
            for state, value in counts.items():
                if value.numel():
                    setattr(self, state, value)
        if self._binary is None and most_kind:
            self._binary = most_kind == 2

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """The counts (this rank's), the update count, and the number and kind of classes seen."""
        saved = super()._state_dict_per_rank()
        saved["num_classes"] = self.num_classes
        saved["binary"] = self._binary
        return saved

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the counts and the number and kind of classes saved by :meth:`state_dict`."""
        for state in ("sample_sum", "sample_count"):
            if state not in state_dict and isinstance(state_dict, Mapping):
                # Saved before per-sample sums existed: they start at zero.
                state_dict = {**state_dict, state: self._defaults[state]}
        super()._load_state_dict_per_rank(state_dict)
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
        total = {name: state[name].sum().reshape(1) for name in _COUNT_STATES}
        return self._per_class(total)[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> Any:
        """The per-class values, or their average, per ``average``."""
        counts = {name: state[name].double() for name in _COUNT_STATES}
        average = "macro" if self.average is True else self.average
        if average == "samples":
            return float(state["sample_sum"]) / max(int(state["sample_count"]), 1)
        if average == "micro":
            return float(self._micro(counts))
        per_class = self._per_class(counts)
        if average is None:  # every class's value, both classes for binary inputs (scikit-learn's labels)
            return per_class
        if average is False:  # the default: the positive class's value, a 0-dimensional tensor, for binary inputs
            return per_class[1] if self._binary else per_class
        if average == "macro":
            return float(per_class.mean())
        support = counts["actual_positives"]
        return float((per_class * support).sum() / support.sum()) if float(support.sum()) > 0 else 0.0


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator))


_COUNTS_ARGS = """
    Args:
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        average: ``False`` (the default, as ignite's: one value per class as a float64 tensor; for
            binary inputs the positive class's value as a 0-dimensional tensor, stored as a float
            in ``engine.state.metrics``); None (one value per class, for binary inputs too: a
            tensor of 2, classes 0 and 1, as scikit-learn's ``average=None``); ``"micro"`` (from counts summed over
            classes); ``"macro"`` or ignite's ``True`` (mean over all classes, both classes for
            binary inputs); ``"weighted"`` (mean weighted by each class's support); ``"samples"``
            (multilabel only: the mean over samples of each sample's value over its labels).
            A zero denominator counts as 0 (scikit-learn's ``zero_division=0``).
        is_multilabel: ignite's spelling of ``task="multilabel"``.
        task: None (read from the shapes), ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        num_classes: needed for multiclass labels; otherwise taken from the first scores seen.
        threshold: None (binary/multilabel ``y_pred`` must hold 0/1), or the score at or above
            which a binary/multilabel prediction is positive (0.5 for probabilities, 0.0 for logits).
"""


class Precision(_ClassCounts):
    """Precision: of the samples predicted as a class, the fraction that belong to it.

    Per class ``c``: ``TP_c / (TP_c + FP_c)`` (true positives over predicted positives).
    {args}
    >>> precision = Precision()
    >>> precision.update((torch.tensor([1, 1, 1, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(float(precision.compute()), 4)
    0.6667
    >>> both = Precision(average=None)  # classes 0 and 1
    >>> both.update((torch.tensor([1, 1, 1, 0]), torch.tensor([1, 0, 1, 1])))
    >>> both.compute()
    tensor([0.0000, 0.6667], dtype=torch.float64)
    """

    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return _ratio(state["true_positives"], state["predicted_positives"])


class Recall(_ClassCounts):
    """Recall: of the samples of a class, the fraction predicted as that class.

    Per class ``c``: ``TP_c / (TP_c + FN_c)`` (true positives over actual positives).
    {args}
    >>> recall = Recall()
    >>> recall.update((torch.tensor([1, 1, 1, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(float(recall.compute()), 4)
    0.6667
    """

    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return _ratio(state["true_positives"], state["actual_positives"])


def _fbeta_of(beta: float, precision: torch.Tensor, recall: torch.Tensor) -> torch.Tensor:
    """``(1 + beta²)·P·R / (beta²·P + R)`` element-wise, 0 where ``P`` and ``R`` are both 0."""
    beta2 = beta**2
    return _ratio((1 + beta2) * precision * recall, beta2 * precision + recall)


class Fbeta(_ClassCounts):
    """The F-beta score: ``(1 + beta²)·P·R / (beta²·P + R)``; ``beta=1`` gives F1.

    Computed per class from the counts (``(1 + beta²)·TP / (beta²·actual + predicted)``, the same
    value), as scikit-learn's ``fbeta_score``, then averaged per ``average``:

    - ``True`` (the default, as ignite's): the mean over classes of the per-class F-beta; for
      binary inputs the positive class's F-beta;
    - ``False``: the per-class values as a tensor (0-dimensional for binary inputs);
    - None: as ``False`` (ignite reads every falsy ``average`` so);
    - ``"micro"``, ``"macro"``, ``"weighted"``, ``"samples"``: as for :class:`Precision`.

    ignite's form ``Fbeta(beta, average, precision=Precision(average=False),
    recall=Recall(average=False))`` computes the score from those two metrics' per-class values
    (``P·R`` over ``beta²·P + R`` per class, then the mean if ``average`` is not False); they
    must have ``average=False``.

    Args:
        beta: weight of recall against precision, positive.
        average: see above.
        precision, recall: ignite's form; a missing one is created with ``average=False``.
        output_transform, device, skip_unrolling, is_multilabel, task, num_classes, threshold:
            see :class:`Precision`.

    >>> f1 = Fbeta(beta=1.0)
    >>> f1.update((torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 1])))
    >>> round(f1.compute(), 4)
    0.4
    """

    def __init__(
        self,
        beta: float = 1.0,
        average: str | bool | None = True,
        precision: Precision | None = None,
        recall: Recall | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        *,
        is_multilabel: bool = False,
        task: str | None = None,
        num_classes: int | None = None,
        threshold: float | None = None,
    ) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise TypeError(f"Fbeta beta must be a number, got {beta!r} ({type(beta).__name__}). Use beta=1.0 for F1.")
        if not beta > 0:
            raise ValueError(f"Fbeta beta must be a positive number, got beta={beta!r}. Use beta=1.0 for F1.")
        self.beta = float(beta)
        self._from_metrics: MetricsLambda | None = None
        super().__init__(
            output_transform,
            average,
            is_multilabel,
            device,
            skip_unrolling,
            task=task,
            num_classes=num_classes,
            threshold=threshold,
        )
        if precision is not None or recall is not None:
            self._from_metrics = self._combine(precision, recall, output_transform, device)

    def _combine(
        self,
        precision: Precision | None,
        recall: Recall | None,
        output_transform: Callable[[Any], Any] | None,
        device: str | torch.device,
    ) -> MetricsLambda:
        for given, kind in ((precision, Precision), (recall, Recall)):
            if given is None:
                continue
            if not isinstance(given, kind):
                raise TypeError(f"Fbeta {kind.__name__.lower()}= takes a {kind.__name__}, got {type(given).__name__}.")
            if given.average is not False:
                raise ValueError(
                    f"Fbeta {kind.__name__.lower()}= needs a {kind.__name__} with average=False (per-class values), "
                    f"got average={given.average!r}. Build it as {kind.__name__}(average=False)."
                )
        if self.average not in (True, False):
            raise ValueError(
                f"Fbeta built from precision= and recall= averages with True or False, got average={self.average!r}. "
                "Leave precision/recall out to use the other averages."
            )
        precision = precision or Precision(output_transform, average=False, device=device)
        recall = recall or Recall(output_transform, average=False, device=device)
        return MetricsLambda(_fbeta_from_values, self.beta, self.average, precision, recall)

    def reset(self) -> None:
        """Forget everything seen (the source metrics too, in ignite's form)."""
        super().reset()
        from_metrics = getattr(self, "_from_metrics", None)  # None while Metric.__init__ runs
        if from_metrics is not None:
            from_metrics.reset()

    def update(self, output: Any) -> None:
        """Add one batch's counts (in ignite's form: update the precision and recall metrics)."""
        if self._from_metrics is not None:
            self._from_metrics.update(output)
            return
        super().update(output)

    def compute(self) -> Any:
        """The F-beta score per ``average``."""
        if self._from_metrics is not None:
            return self._from_metrics.compute()
        return super().compute()

    def attach_updates(self, engine: Any, usage: Any) -> None:
        """Register the update handlers (of the precision and recall metrics in ignite's form)."""
        if self._from_metrics is not None:
            self._from_metrics.attach_updates(engine, usage)
            return
        super().attach_updates(engine, usage)

    def detach_updates(self, engine: Any, usage: Any) -> None:
        """Remove what :meth:`attach_updates` registered."""
        if self._from_metrics is not None:
            self._from_metrics.detach_updates(engine, usage)
            return
        super().detach_updates(engine, usage)

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """The counts, or in ignite's form the precision and recall metrics' states."""
        if self._from_metrics is not None:
            return self._from_metrics._state_dict_per_rank()
        return super()._state_dict_per_rank()

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        if self._from_metrics is not None:
            self._from_metrics._load_state_dict_per_rank(state_dict)
            return
        super()._load_state_dict_per_rank(state_dict)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> Any:
        """The F-beta score from the counts, per ``average``."""
        if self.average is True:
            counts = {name: state[name].double() for name in _COUNT_STATES}
            per_class = self._per_class(counts)
            return float(per_class[1]) if self._binary else float(per_class.mean())
        if self.average is None and self._binary:
            # ignite's Fbeta reads every falsy average as False: the positive class's value, not both classes.
            counts = {name: state[name].double() for name in _COUNT_STATES}
            return self._per_class(counts)[1]
        return super().compute_from(state)

    def _per_class(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        beta2 = self.beta**2
        denominator = beta2 * state["actual_positives"] + state["predicted_positives"]
        return _ratio((1 + beta2) * state["true_positives"], denominator)


def _fbeta_from_values(beta: float, average: bool, precision: torch.Tensor, recall: torch.Tensor) -> Any:
    score = _fbeta_of(beta, precision.double(), recall.double())
    return float(score.mean()) if average else score


for _cls in (Precision, Recall):
    _cls.__doc__ = (_cls.__doc__ or "").replace("    {args}", _COUNTS_ARGS.rstrip("\n"))

_NORMALIZE_OF_AVERAGE = {None: None, "recall": "true", "precision": "pred"}


class ConfusionMatrix(_ClassificationMetric):
    """The confusion matrix: entry ``[i, j]`` counts samples of class ``i`` predicted as class ``j``.

    Args:
        num_classes: the number of classes C (2 for binary inputs).
        average: ignite's normalisation: None (counts), ``"samples"`` (divided by the number of
            samples N, the first dimension of ``y``: for segmentation maps ``(N, H, W)`` the
            images, not the pixels), ``"recall"`` (each row divided by its sum), ``"precision"``
            (each column divided by its sum).
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        normalize: ember's (and scikit-learn's) spelling of the same: None, ``"all"``, ``"true"``
            (rows sum to 1) or ``"pred"`` (columns sum to 1). An all-zero row or column stays 0.
        task, threshold: see :class:`Accuracy`.

    The helpers :func:`IoU`, :func:`mIoU`, :func:`DiceCoefficient`, :func:`cmAccuracy`,
    :func:`cmPrecision` and :func:`cmRecall` turn a confusion matrix into segmentation scores.

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
        average: str | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        *,
        normalize: str | None = None,
        task: str | None = None,
        threshold: float | None = None,
    ) -> None:
        if task == "multilabel":
            raise ValueError(
                "ConfusionMatrix counts one label per sample, got task='multilabel'. Use one ConfusionMatrix per "
                "label (each with binary inputs), or Precision/Recall with task='multilabel'."
            )
        if num_classes is None:
            raise TypeError("ConfusionMatrix needs num_classes, the number of classes C, got None.")
        super().__init__(task, num_classes, threshold, False, output_transform, device, skip_unrolling)
        if average not in (*_NORMALIZE_OF_AVERAGE, "samples"):
            raise ValueError(
                f"ConfusionMatrix average must be None, 'samples', 'recall' or 'precision', got average={average!r}."
            )
        if normalize not in (None, "true", "pred", "all"):
            raise ValueError(
                f"ConfusionMatrix normalize must be None, 'true', 'pred' or 'all', got normalize={normalize!r}."
            )
        if average is not None and normalize is not None and _NORMALIZE_OF_AVERAGE.get(average) != normalize:
            raise ValueError(
                f"ConfusionMatrix got average={average!r} and normalize={normalize!r}, which disagree. Pass only "
                "one of them (ignite's average='recall' is normalize='true', 'precision' is normalize='pred')."
            )
        self.normalize = normalize or _NORMALIZE_OF_AVERAGE.get(average)
        self.average = average
        # an expanded zero: the state is the only full num_classes x num_classes tensor, even while built
        zero = torch.zeros((1, 1), dtype=torch.int64)
        self.add_state("matrix", zero.expand(num_classes, num_classes), reduction="sum")
        self.add_state("examples", torch.tensor(0), reduction="sum")
        self.matrix: torch.Tensor
        self.examples: torch.Tensor

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
        targets = y.reshape(-1).long()
        left_out = classes * classes  # one bin past the matrix's cells, cut off below
        # As ignite documents: a target outside [0, classes), such as a void label 255 in a
        # segmentation map, is left out of the matrix.
        cells = torch.where((targets >= 0) & (targets < classes), targets * classes + predicted, left_out)
        if kind == "multiclass" and output[0].dim() == output[1].dim():  # labels, not scores (arg-max is in range)
            # A predicted label out of range would alias into another row's cells: send it past the
            # left-out bin instead, so that the count's length reveals it (no read from the device).
            cells = torch.where((predicted >= 0) & (predicted < classes), cells, left_out + 1)
        counts = torch.bincount(cells, minlength=left_out + 1)
        if counts.shape[0] > left_out + 1:
            raise ValueError(
                f"ConfusionMatrix has {classes} classes (labels 0 to {classes - 1}) but got a predicted label "
                "y_pred outside them. Pass num_classes that covers every label."
            )
        self.matrix += counts[:left_out].reshape(classes, classes)
        if self.average == "samples":  # only that average needs the count: no extra operation otherwise
            self.examples += y.shape[0] if y.dim() else 1

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the matrix (and example count) saved by :meth:`state_dict`."""
        if isinstance(state_dict, Mapping) and "examples" not in state_dict and "matrix" in state_dict:
            # Saved before the example count existed: count each row of the matrix as one example.
            state_dict = {**state_dict, "examples": torch.as_tensor(state_dict["matrix"]).sum()}
        super()._load_state_dict_per_rank(state_dict)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The matrix (rows: true class, columns: predicted class), normalised per ``normalize``."""
        matrix = state["matrix"]
        if self.average == "samples":
            return matrix.double() / state["examples"].clamp(min=1)
        if self.normalize is None:
            return matrix
        counts = matrix.double()
        if self.normalize == "true":
            return _ratio(counts, counts.sum(dim=1, keepdim=True).expand_as(counts))
        if self.normalize == "pred":
            return _ratio(counts, counts.sum(dim=0, keepdim=True).expand_as(counts))
        return _ratio(counts, counts.sum().expand_as(counts))


def _check_confusion_matrix(function: str, cm: Any) -> None:
    if not isinstance(cm, ConfusionMatrix):
        raise TypeError(f"{function} takes a ConfusionMatrix, got {type(cm).__name__}. Pass ConfusionMatrix(C).")


def _check_ignore_index(function: str, cm: ConfusionMatrix, ignore_index: int | None) -> None:
    if ignore_index is None:
        return
    classes = cm.matrix.shape[0]
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or not 0 <= ignore_index < classes:
        raise ValueError(
            f"{function} ignore_index must be a class index from 0 to {classes - 1}, or None, got {ignore_index!r}."
        )


def _drop_class(values: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    if ignore_index is None:
        return values
    keep = [index for index in range(values.shape[0]) if index != ignore_index]
    return values[keep]


def _iou(matrix: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    counts = matrix.double()
    diagonal = counts.diagonal()
    return _drop_class(_ratio(diagonal, counts.sum(dim=1) + counts.sum(dim=0) - diagonal), ignore_index)


def _dice(matrix: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    counts = matrix.double()
    return _drop_class(_ratio(2 * counts.diagonal(), counts.sum(dim=1) + counts.sum(dim=0)), ignore_index)


def _mean_of(values: torch.Tensor) -> torch.Tensor:
    return values.mean()


def IoU(cm: ConfusionMatrix, ignore_index: int | None = None) -> MetricsLambda:
    """Intersection over union per class from a confusion matrix: ``TP / (TP + FP + FN)``.

    A float64 tensor with one value per class (without ``ignore_index``); a class that never
    occurs nor is predicted gets 0.

    >>> cm = ConfusionMatrix(num_classes=2)
    >>> iou = IoU(cm)
    >>> iou.update((torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), torch.tensor([0, 1, 1])))
    >>> iou.compute()
    tensor([0.5000, 0.5000], dtype=torch.float64)
    """
    _check_confusion_matrix("IoU", cm)
    _check_ignore_index("IoU", cm, ignore_index)
    return MetricsLambda(_iou, _CountsOf(cm), ignore_index)


#: The Jaccard index is the intersection over union (ignite's alias).
JaccardIndex = IoU


def mIoU(cm: ConfusionMatrix, ignore_index: int | None = None) -> MetricsLambda:
    """The mean of :func:`IoU` over the classes (without ``ignore_index``), a 0-dimensional tensor."""
    return MetricsLambda(_mean_of, IoU(cm, ignore_index))


def DiceCoefficient(cm: ConfusionMatrix, ignore_index: int | None = None) -> MetricsLambda:
    """The Dice coefficient per class from a confusion matrix: ``2·TP / (2·TP + FP + FN)``."""
    _check_confusion_matrix("DiceCoefficient", cm)
    _check_ignore_index("DiceCoefficient", cm, ignore_index)
    return MetricsLambda(_dice, _CountsOf(cm), ignore_index)


def _accuracy_of(matrix: torch.Tensor) -> torch.Tensor:
    counts = matrix.double()
    return _ratio(counts.diagonal().sum(), counts.sum())


def cmAccuracy(cm: ConfusionMatrix) -> MetricsLambda:
    """Accuracy from a confusion matrix: the diagonal's sum over the total, a 0-dimensional tensor."""
    _check_confusion_matrix("cmAccuracy", cm)
    return MetricsLambda(_accuracy_of, _CountsOf(cm))


def _precision_of(matrix: torch.Tensor, average: bool) -> torch.Tensor:
    counts = matrix.double()
    per_class = _ratio(counts.diagonal(), counts.sum(dim=0))
    return per_class.mean() if average else per_class


def _recall_of(matrix: torch.Tensor, average: bool) -> torch.Tensor:
    counts = matrix.double()
    per_class = _ratio(counts.diagonal(), counts.sum(dim=1))
    return per_class.mean() if average else per_class


def cmPrecision(cm: ConfusionMatrix, average: bool = True) -> MetricsLambda:
    """Precision per class from a confusion matrix (diagonal over column sums); their mean if ``average``."""
    _check_confusion_matrix("cmPrecision", cm)
    return MetricsLambda(_precision_of, _CountsOf(cm), bool(average))


def cmRecall(cm: ConfusionMatrix, average: bool = True) -> MetricsLambda:
    """Recall per class from a confusion matrix (diagonal over row sums); their mean if ``average``."""
    _check_confusion_matrix("cmRecall", cm)
    return MetricsLambda(_recall_of, _CountsOf(cm), bool(average))


class _CountsOf(MetricsLambda):
    """The counts of a confusion matrix, whatever its ``normalize``: the input of the cm helpers."""

    def __init__(self, cm: ConfusionMatrix) -> None:
        super().__init__(_identity_value, cm)
        self.cm = cm

    def compute(self) -> Any:
        """The unnormalised matrix, combined across ranks."""
        if self.cm.total_updates() == 0:
            return self.cm.compute()  # raises NotComputableError with the matrix's own message
        return self.cm.synced_state()["matrix"]


def _identity_value(value: Any) -> Any:
    return value


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
