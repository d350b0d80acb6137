"""``KLDivergence``: the mean KL divergence of the predicted from the target distributions (ignite's module path)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ember.exceptions import NotComputableError
from ember.metrics._pairs import class_rows, floating
from ember.metrics.metric import Metric

__all__ = ["KLDivergence"]


class KLDivergence(Metric):
    """The mean over predictions of ``KL(q ‖ p) = Σ_c q_c (log q_c - log p_c)``, with ``p``, ``q`` the softmaxes.

    ``p = softmax(y_pred)`` and ``q = softmax(y)``.

    Both ``y_pred`` and ``y`` are scores (logits) of the same shape ``(B, C)`` or ``(B, C, ...)``,
    every position of ``...`` being a prediction of its own.

    >>> import torch
    >>> metric = KLDivergence()
    >>> metric.update((torch.zeros(3, 5), torch.zeros(3, 5)))  # equal distributions
    >>> metric.compute()
    0.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_kl", "count": "_num_examples"}

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's divergences."""
        name = type(self).__name__
        y_pred, y = self._unpack_pair(output)
        if y_pred.shape != y.shape:
            raise ValueError(
                f"{name} expects y_pred and y of the same shape (B, C, ...), got y_pred {tuple(y_pred.shape)} and "
                f"y {tuple(y.shape)}. Both are scores over the same classes."
            )
        floating(name, "y_pred", y_pred)
        floating(name, "y", y)
        scores, targets = class_rows(name, y_pred), class_rows(name, y)
        self.count += scores.shape[0]
        self.total += self._divergence_sum(scores, targets)

    def _divergence_sum(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(scores, dim=1), F.log_softmax(targets, dim=1), reduction="sum", log_target=True)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean divergence (in nats)."""
        count = int(state["count"])
        if count == 0:
            raise NotComputableError(
                f"{type(self).__name__} must have at least one example before it can be computed; the updates so "
                "far held empty batches."
            )
        return float(state["total"].item()) / (count * self._per_example)

    #: how many divergences each example adds (2 for Jensen-Shannon's two halves)
    _per_example = 1
