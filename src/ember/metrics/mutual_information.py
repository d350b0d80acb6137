"""``MutualInformation``: between the inputs and the predicted class (ignite's ``mutual_information`` module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ember import distributed
from ember.metrics.entropy import Entropy

__all__ = ["MutualInformation"]


class MutualInformation(Entropy):
    """``I(X; Y) = H(mean_i p_i) - mean_i H(p_i)``, with ``p_i = softmax(y_pred_i)`` (clamped at 0).

    The entropy of the mean predicted distribution minus the mean entropy of the predictions: high
    when each prediction is confident but the predictions spread over the classes. Inputs as
    :class:`~ember.metrics.Entropy` (only ``y_pred`` is read). Under ``torch.distributed`` the
    ranks must see the same number of classes; a rank without updates takes part too.

    >>> import torch
    >>> metric = MutualInformation()
    >>> metric.update((torch.tensor([[50.0, 0.0], [0.0, 50.0]]), None))  # confident, one of each class
    >>> round(metric.compute(), 6)  # log 2
    0.693147
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "total": "_sum_of_entropies",
        "count": "_num_examples",
        "probability_sum": "_sum_of_probabilities",
    }
    _shape_free_states = ("probability_sum",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sized by the data (the number of classes); combined across ranks in synced_state.
        self.add_state("probability_sum", torch.zeros(0), reduction=None)
        self.probability_sum: torch.Tensor

    def _add(self, probabilities: torch.Tensor, log_probabilities: torch.Tensor) -> None:
        super()._add(probabilities, log_probabilities)
        batch_sum = probabilities.sum(dim=0)
        if self.probability_sum.numel() == 0:
            self.probability_sum = batch_sum.to(torch.float32)
            return
        if self.probability_sum.dim() and self.probability_sum.shape != batch_sum.shape:
            raise ValueError(
                f"MutualInformation got scores of {batch_sum.numel()} classes after {self.probability_sum.numel()}. "
                "The number of classes cannot change between resets."
            )
        self.probability_sum = self.probability_sum + batch_sum

    def synced_state(self) -> dict[str, torch.Tensor]:
        """The sums of every rank, the class-probability sums included (ranks without data add nothing)."""
        state = super().synced_state()
        if distributed.get_world_size() == 1:
            return state
        pieces = [piece for (piece,) in distributed.all_gather((self.probability_sum.cpu(),)) if piece.numel()]
        shapes = {tuple(piece.shape) for piece in pieces if piece.dim()}
        if len(shapes) > 1:
            raise ValueError(
                f"MutualInformation's ranks saw different numbers of classes: {sorted(shapes)}. Every rank must "
                "give scores of the same classes."
            )
        if pieces:
            total = pieces[0]
            for piece in pieces[1:]:
                total = total + piece
            state["probability_sum"] = total.to(self.device)
        return state

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mutual information (in nats), never below 0."""
        count = self._check_examples(state)
        marginal = state["probability_sum"] / count
        marginal_entropy = -(marginal * torch.log(marginal)).sum()
        information = marginal_entropy - state["total"] / count
        return float(torch.clamp(information, min=0.0).item())
