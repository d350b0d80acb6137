"""``Entropy``: the mean entropy of the predicted class distributions (ignite's ``entropy`` module)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ember.exceptions import NotComputableError
from ember.metrics._pairs import class_rows, first_of, floating
from ember.metrics.metric import Metric

__all__ = ["Entropy"]


class Entropy(Metric):
    """The mean over predictions of ``H(p) = -Σ_c p_c log p_c`` with ``p = softmax(y_pred)``.

    Only ``y_pred`` is read (``output`` is ``(y_pred, y)`` as for other metrics; ``y`` is ignored).
    Its shape is ``(B, C)`` scores (logits) of ``C`` classes, or ``(B, C, ...)``, where every
    position of ``...`` is a prediction of its own (e.g. a segmentation's pixels).

    >>> import torch
    >>> metric = Entropy()
    >>> metric.update((torch.zeros(2, 4), None))  # uniform over 4 classes: log 4 each
    >>> round(metric.compute(), 6)
    1.386294
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_entropies", "count": "_num_examples"}

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
        """Add one batch's entropies."""
        name = type(self).__name__
        y_pred = first_of(name, output, self.device)
        floating(name, "y_pred", y_pred)
        scores = class_rows(name, y_pred)
        probabilities = F.softmax(scores, dim=1)
        self._add(probabilities, F.log_softmax(scores, dim=1))

    def _add(self, probabilities: torch.Tensor, log_probabilities: torch.Tensor) -> None:
        self.total += -(probabilities * log_probabilities).sum()
        self.count += probabilities.shape[0]

    def _check_examples(self, state: Mapping[str, torch.Tensor]) -> int:
        count = int(state["count"])
        if count == 0:
            raise NotComputableError(
                f"{type(self).__name__} must have at least one example before it can be computed; the updates so "
                "far held empty batches."
            )
        return count

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean entropy (in nats)."""
        return float(state["total"].item()) / self._check_examples(state)
