"""``MeanPairwiseDistance``: the mean p-norm distance of predictions to targets (ignite's module path)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ember.exceptions import NotComputableError
from ember.metrics._pairs import same_shape_floats
from ember.metrics.metric import Metric

__all__ = ["MeanPairwiseDistance"]


class MeanPairwiseDistance(Metric):
    """The mean over examples of ``‖ŷ_i - y_i + eps‖_p``, the norm taken over the last dimension.

    ``y_pred`` and ``y`` have shape ``(N, D)`` (``(N, ..., D)`` sums the distances of each example's rows).

    Args:
        p: the norm's degree (2: Euclidean).
        eps: added to the differences, as ``torch.nn.functional.pairwise_distance`` does (``1e-6``).
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> metric = MeanPairwiseDistance(eps=0.0)
    >>> metric.update((torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[3.0, 4.0], [1.0, 1.0]])))
    >>> metric.compute()
    2.5
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_distances", "count": "_num_examples"}

    def __init__(
        self,
        p: int = 2,
        eps: float = 1e-6,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p <= 0:
            raise ValueError(f"MeanPairwiseDistance p must be a positive number, got p={p!r}.")
        self._p = p
        self._eps = eps
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's distances."""
        y_pred, y = self._unpack_pair(output)
        # Integer vectors (ignite takes them, e.g. integer predictions against float targets) count as floats.
        floating = y_pred.dtype if y_pred.is_floating_point() else y.dtype if y.is_floating_point() else None
        floating = floating or torch.get_default_dtype()
        y_pred, y = (t if t.is_floating_point() or t.dtype == torch.bool else t.to(floating) for t in (y_pred, y))
        same_shape_floats("MeanPairwiseDistance", y_pred, y, 2, "(N, D)")
        self.total += F.pairwise_distance(y_pred, y, p=self._p, eps=self._eps).sum()
        self.count += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean distance."""
        if int(state["count"]) == 0:
            raise NotComputableError("MeanPairwiseDistance must have at least one example before it can be computed.")
        return float(state["total"].item()) / int(state["count"])
