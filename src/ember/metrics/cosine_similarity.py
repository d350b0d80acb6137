"""``CosineSimilarity``: the mean cosine similarity of predictions and targets (ignite's module path)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ember.exceptions import NotComputableError
from ember.metrics._pairs import same_shape_floats
from ember.metrics.metric import Metric

__all__ = ["CosineSimilarity"]


class CosineSimilarity(Metric):
    """The mean over examples of ``cos(ŷ_i, y_i) = ŷ_i · y_i / max(‖ŷ_i‖ ‖y_i‖, eps)``.

    ``y_pred`` and ``y`` have shape ``(N, ...)``: each example is flattened to a vector.

    Args:
        eps: the smallest denominator (ignite's default ``1e-8``).
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> metric = CosineSimilarity()
    >>> metric.update((torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 1.0], [2.0, 2.0]])))
    >>> round(metric.compute(), 6)  # cos 90° = 0 and cos 0° = 1
    0.5
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "total": "_sum_of_cos_similarities",
        "count": "_num_examples",
    }

    def __init__(
        self,
        eps: float = 1e-8,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        self.eps = eps
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's cosine similarities."""
        y_pred, y = self._unpack_pair(output)
        same_shape_floats("CosineSimilarity", y_pred, y, 2, "(N, D) or (N, ...)")
        similarities = F.cosine_similarity(y_pred.flatten(start_dim=1), y.flatten(start_dim=1), dim=1, eps=self.eps)
        self.total += similarities.sum()
        self.count += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean cosine similarity."""
        if int(state["count"]) == 0:
            raise NotComputableError("CosineSimilarity must have at least one example before it can be computed.")
        return float(state["total"].item()) / int(state["count"])
