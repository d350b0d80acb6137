"""Perplexity of a language model's predictions (ignite's ``nlp.perplexity``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__ = ["Perplexity"]


class Perplexity(Metric):
    """``exp`` of the mean negative log-likelihood per token, over every token seen.

    ``y_pred`` holds logits of shape ``(batch, vocab, seq_len, ...)`` and ``y`` the target token
    ids of shape ``(batch, seq_len, ...)`` (``F.cross_entropy``'s layout); targets equal to
    ``ignore_index`` are skipped. Sums of the NLL and of the token count are combined over ranks.

    Args:
        output_transform, device: see :class:`~ember.metrics.Metric`.
        ignore_index: the target id of padding tokens.

    >>> ppl = Perplexity()
    >>> uniform = torch.zeros(2, 5, 3)  # equal logits over 5 tokens: perplexity 5
    >>> ppl.update((uniform, torch.tensor([[0, 1, 2], [3, 4, -100]])))
    >>> round(ppl.compute(), 4)
    5.0
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        ignore_index: int = -100,
    ) -> None:
        self._ignore_index = ignore_index
        super().__init__(output_transform, device)
        self.add_state("nll", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("tokens", torch.tensor(0), reduction="sum")
        self.nll: torch.Tensor
        self.tokens: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's summed negative log-likelihood and token count."""
        y_pred, y = self._unpack_pair(output)
        if (
            y.dim() < 1
            or y_pred.dim() != y.dim() + 1
            or y_pred.shape[0] != y.shape[0]
            or y_pred.shape[2:] != y.shape[1:]
        ):
            raise ValueError(
                f"Perplexity takes logits y_pred of shape (batch, vocab, seq_len) and targets y of shape (batch, "
                f"seq_len), got y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)}. For logits (batch, seq_len, "
                "vocab), pass y_pred.transpose(1, 2)."
            )
        if y.is_floating_point():
            raise TypeError(f"Perplexity takes integer token ids y, got dtype {y.dtype}.")
        self.nll += F.cross_entropy(y_pred, y, reduction="sum", ignore_index=self._ignore_index).to(torch.float64)
        self.tokens += (y != self._ignore_index).sum()

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """``exp(total NLL / total tokens)``."""
        if int(state["tokens"]) == 0:
            raise NotComputableError("Perplexity saw no token (all were ignore_index) before compute().")
        return float(torch.exp(state["nll"] / state["tokens"]))
