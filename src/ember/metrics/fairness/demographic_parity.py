"""``SelectionRate`` and ``DemographicParityDifference`` (ignite's ``fairness.demographic_parity``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch

from ember import distributed
from ember.exceptions import NotComputableError
from ember.metrics.fairness.base import SubgroupDifference
from ember.metrics.metric import Metric

__all__ = ["DemographicParityDifference", "SelectionRate"]


def _zero_one(owner: str, what: str, tensor: torch.Tensor) -> None:
    if bool(((tensor != 0) & (tensor != 1)).any()):
        raise ValueError(
            f"{owner} reads {what} as 0/1 predictions, but it holds other values. Threshold scores first, e.g. "
            "(y_pred > 0.5).long(), or pass class scores of shape (N, C) for the multiclass case."
        )


class SelectionRate(Metric):
    """How often each outcome is predicted: the fraction of predictions of each class (or label).

    The kind of input is read as ignite reads it:

    - binary: ``y_pred`` of ``y``'s shape, holding 0/1; the value is the rates of 0 and of 1 (2 entries);
    - multiclass: ``y_pred`` of shape ``(N, C, ...)`` scores and ``y`` ``(N, ...)``; the rates of the
      ``C`` predicted classes (arg-max);
    - multilabel (``is_multilabel=True``): 0/1 ``y_pred`` and ``y`` of shape ``(N, C, ...)``; per label,
      the fraction of examples predicted positive.

    The value is a tensor. Under ``torch.distributed`` the counts of every rank are added (a rank
    without updates takes part too).

    >>> import torch
    >>> rate = SelectionRate()
    >>> rate.update((torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1])))
    >>> rate.compute()
    tensor([0.2500, 0.7500])
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"positives": "_num_positives", "count": "_num_examples"}
    _shape_free_states = ("positives",)

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        is_multilabel: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if not isinstance(is_multilabel, bool):
            raise TypeError(f"SelectionRate is_multilabel must be True or False, got {is_multilabel!r}.")
        self._is_multilabel = is_multilabel
        self._kind: str | None = None
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("positives", torch.zeros(0), reduction=None)
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.positives: torch.Tensor
        self.count: torch.Tensor

    def reset(self) -> None:
        """Forget the counts and the kind of input."""
        super().reset()
        self._kind = None

    def _read(self, y_pred: torch.Tensor, y: torch.Tensor) -> tuple[str, torch.Tensor, int]:
        """The kind of input, the counts of each outcome, and the number of predictions."""
        if self._is_multilabel:
            if y_pred.shape != y.shape or y_pred.dim() < 2:
                raise ValueError(
                    f"SelectionRate with is_multilabel=True expects y_pred and y of one shape (N, C, ...), got "
                    f"{tuple(y_pred.shape)} and {tuple(y.shape)}."
                )
            _zero_one("SelectionRate", "y_pred", y_pred)
            classes = y_pred.shape[1]
            return (
                "multilabel",
                y_pred.movedim(1, -1).reshape(-1, classes).sum(dim=0).float(),
                y_pred.numel() // classes,
            )
        if y_pred.dim() == y.dim() + 1 and y_pred.dim() >= 2 and y_pred.shape[2:] == y.shape[1:]:
            predicted = y_pred.argmax(dim=1).reshape(-1)
            return "multiclass", torch.bincount(predicted, minlength=y_pred.shape[1]).float(), predicted.numel()
        if y_pred.shape == y.shape:
            _zero_one("SelectionRate", "y_pred", y_pred)
            predicted = y_pred.reshape(-1).long()
            return "binary", torch.bincount(predicted, minlength=2).float(), predicted.numel()
        raise ValueError(
            f"SelectionRate got y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)}, which fit none of the binary "
            "(same shapes, 0/1), multiclass (y_pred (N, C, ...) and y (N, ...)) or multilabel (is_multilabel=True) "
            "layouts."
        )

    def update(self, output: Any) -> None:
        """Count one batch's predictions of each outcome."""
        y_pred, y = self._unpack_pair(output)
        kind, counts, total = self._read(y_pred, y)
        if self._kind is not None and (kind != self._kind or counts.shape != self.positives.shape):
            raise ValueError(
                f"SelectionRate got {kind} inputs with {counts.numel()} outcomes after {self._kind} ones with "
                f"{self.positives.numel()}. Keep one kind of input between resets."
            )
        self._kind = kind
        self.positives = counts if self.positives.numel() == 0 else self.positives + counts
        self.count += total

    def synced_state(self) -> dict[str, torch.Tensor]:
        """The counts of every rank added (ranks without updates add nothing)."""
        state = super().synced_state()
        if distributed.get_world_size() == 1:
            return state
        pieces = [piece for (piece,) in distributed.all_gather((self.positives.cpu(),)) if piece.numel()]
        if len({piece.shape for piece in pieces}) > 1:
            raise ValueError(
                f"SelectionRate's ranks counted different numbers of outcomes: {[tuple(p.shape) for p in pieces]}."
            )
        if pieces:
            total = pieces[0]
            for piece in pieces[1:]:
                total = total + piece
            state["positives"] = total.to(self.device)
        return state

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fraction of predictions of each outcome."""
        if int(state["count"]) == 0 or state["positives"].numel() == 0:
            raise NotComputableError("SelectionRate must have at least one example before it can be computed.")
        return state["positives"] / int(state["count"])


class DemographicParityDifference(SubgroupDifference):
    """The largest gap between groups of the rate at which an outcome is predicted (:class:`SelectionRate`).

    0 when every group gets every outcome equally often. ``output`` is ``(y_pred, y, group_labels)``.

    Args:
        groups: the group labels, e.g. ``[0, 1]``.
        is_multilabel: multilabel inputs (see :class:`SelectionRate`).
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> metric = DemographicParityDifference(groups=[0, 1])
    >>> metric.update((torch.tensor([1, 1, 1, 0]), torch.tensor([1, 0, 1, 0]), torch.tensor([0, 0, 1, 1])))
    >>> metric.compute()  # group 0 always predicted 1, group 1 half of the time
    0.5
    """

    def __init__(
        self,
        groups: Sequence[int],
        is_multilabel: bool = False,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(SelectionRate(is_multilabel=is_multilabel, device=device), groups, output_transform, device)
