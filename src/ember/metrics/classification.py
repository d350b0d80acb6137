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

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember import distributed
from ember.metrics._classes import _AVERAGES, _ClassificationMetric, _ratio, _shape
from ember.metrics.accuracy import Accuracy, TopKCategoricalAccuracy
from ember.metrics.confusion_matrix import (
    ConfusionMatrix,
    DiceCoefficient,
    IoU,
    JaccardIndex,
    cmAccuracy,
    cmPrecision,
    cmRecall,
    mIoU,
)
from ember.metrics.metric import MetricsLambda

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
    """``(1 + beta²)·P·R / (beta²·P + R + 1e-15)`` element-wise: 0 where ``P`` and ``R`` are both 0.

    The 1e-15 is ignite's: with it the value is ignite's to the last bit (F1 of ``P = R = 0.5`` prints
    ``0.49999999999999944`` there, and in ignite's documented examples).
    """
    beta2 = beta**2
    return (1 + beta2) * precision * recall / (beta2 * precision + recall + 1e-15)


class Fbeta(_ClassCounts):
    """The F-beta score: ``(1 + beta²)·P·R / (beta²·P + R)``; ``beta=1`` gives F1.

    Computed per class from that class's precision and recall, with ignite's ``1e-15`` added to the
    denominator (so the value is ignite's to the last bit, and scikit-learn's ``fbeta_score`` up to
    rounding), then averaged per ``average``:

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
        # from the per-class precision and recall, as ignite computes it, so that the value is ignite's to the
        # last bit (the count form (1 + beta²)·TP / (beta²·actual + predicted) is equal only up to rounding)
        precision = _ratio(state["true_positives"], state["predicted_positives"])
        recall = _ratio(state["true_positives"], state["actual_positives"])
        return _fbeta_of(self.beta, precision, recall)


def _fbeta_from_values(beta: float, average: bool, precision: torch.Tensor, recall: torch.Tensor) -> Any:
    score = _fbeta_of(beta, precision.double(), recall.double())
    return float(score.mean()) if average else score


for _cls in (Precision, Recall):
    _cls.__doc__ = (_cls.__doc__ or "").replace("    {args}", _COUNTS_ARGS.rstrip("\n"))
