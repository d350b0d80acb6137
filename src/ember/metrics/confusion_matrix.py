"""The confusion matrix and its scores (ignite's ``ignite.metrics.confusion_matrix`` path).

:class:`ConfusionMatrix` counts (true class, predicted class) pairs; :func:`IoU`, :func:`mIoU`,
:func:`DiceCoefficient`, :func:`cmAccuracy`, :func:`cmPrecision` and :func:`cmRecall` are derived
metrics computed from it. The inputs are read as described in :mod:`ember.metrics.classification`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.metrics._classes import _ClassificationMetric, _ratio, _shape
from ember.metrics.metric import MetricsLambda

__all__ = ["ConfusionMatrix", "DiceCoefficient", "IoU", "JaccardIndex", "cmAccuracy", "cmPrecision", "cmRecall", "mIoU"]

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
            (rows sum to 1) or ``"pred"`` (columns sum to 1). An all-zero row or column stays 0. The
            normalisations ignite has (``"samples"``, ``"recall"``/``"true"``, ``"precision"``/``"pred"``)
            are float32 tensors, as ignite's; ``"all"`` is float64.
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
        # ignite's normalisations are float32, as ignite's (float64 here printed 0.19999999999999996 for its 0.2)
        if self.average == "samples":
            return matrix.float() / state["examples"].clamp(min=1)
        if self.normalize is None:
            return matrix
        counts = matrix.double() if self.normalize == "all" else matrix.float()
        if self.normalize == "true":
            return _over(counts, counts.sum(dim=1, keepdim=True))
        if self.normalize == "pred":
            return _over(counts, counts.sum(dim=0, keepdim=True))
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


def _over(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / (denominator + 1e-15)``: 0 where the denominator is 0, and ignite's value to the last bit.

    ignite adds the 1e-15 to every score it derives from a confusion matrix; without it a mean IoU of
    one half prints 0.5 where ignite's (and its documented example) prints 0.49999999999999994.
    """
    return numerator / (denominator + 1e-15)


def _iou(matrix: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    counts = matrix.double()
    diagonal = counts.diagonal()
    return _drop_class(_over(diagonal, counts.sum(dim=1) + counts.sum(dim=0) - diagonal), ignore_index)


def _dice(matrix: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    counts = matrix.double()
    return _drop_class(_over(2.0 * counts.diagonal(), counts.sum(dim=1) + counts.sum(dim=0)), ignore_index)


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
    return _over(counts.diagonal().sum(), counts.sum())


def cmAccuracy(cm: ConfusionMatrix) -> MetricsLambda:
    """Accuracy from a confusion matrix: the diagonal's sum over the total, a 0-dimensional tensor."""
    _check_confusion_matrix("cmAccuracy", cm)
    return MetricsLambda(_accuracy_of, _CountsOf(cm))


def _precision_of(matrix: torch.Tensor, average: bool) -> torch.Tensor:
    counts = matrix.double()
    per_class = _over(counts.diagonal(), counts.sum(dim=0))
    return per_class.mean() if average else per_class


def _recall_of(matrix: torch.Tensor, average: bool) -> torch.Tensor:
    counts = matrix.double()
    per_class = _over(counts.diagonal(), counts.sum(dim=1))
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
