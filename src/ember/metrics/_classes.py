"""Reading classification inputs, shared by accuracy, precision/recall/F-beta and the confusion matrix.

:class:`_ClassificationMetric` detects the task from the shapes (binary, multiclass scores or
labels, multilabel), checks values, applies a threshold and fixes the number of classes; the
input rules are described in :mod:`ember.metrics.classification`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch

from ember.metrics.metric import Metric

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


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1e-300), torch.zeros_like(numerator))
