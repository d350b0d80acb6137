"""Normalized discounted cumulative gain at k (ignite's ``rec_sys.ndcg``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics.rec_sys._common import RankingMetric

__all__ = ["NDCG"]

_GAINS = ("exp_rank", "linear_rank")


class NDCG(RankingMetric):
    """NDCG at each ``k``: the discounted gain of the ``k`` best-scored items over the best possible.

    The gain of an item of relevance ``r`` is ``2**r - 1`` (``gain_function="exp_rank"``) or ``r``
    (``"linear_rank"``); relevances below ``relevance_threshold`` count as 0. The item at rank
    ``i`` (from 1) is discounted by ``1 / log2(i + 1)``; ties in ``y_pred`` keep the items' order.
    A query whose ideal gain is 0 scores 0. ``compute()`` returns the mean over queries for each
    ``k`` of ``top_k``, in increasing ``k``; ``k`` may exceed the number of items.

    Args:
        top_k: the cut-offs, a list of positive integers.
        ignore_zero_hits: skip queries without any item at or above ``relevance_threshold``.
        relevance_threshold: the smallest relevance that counts.
        gain_function: ``"exp_rank"`` or ``"linear_rank"``.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> ndcg = NDCG(top_k=[2])
    >>> ndcg.update((torch.tensor([[0.9, 0.5, 0.1]]), torch.tensor([[0.0, 1.0, 1.0]])))
    >>> round(ndcg.compute()[0], 4)  # gains (0, 1) discounted by (1, 1/log2(3)), over the ideal (1, 1)
    0.3869
    """

    def __init__(
        self,
        top_k: list[int],
        ignore_zero_hits: bool = True,
        relevance_threshold: float = 1.0,
        gain_function: str = "exp_rank",
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if gain_function not in _GAINS:
            raise ValueError(f"NDCG gain_function must be 'exp_rank' or 'linear_rank', got {gain_function!r}.")
        self.relevance_threshold = relevance_threshold
        self.gain_function = gain_function
        super().__init__(top_k, ignore_zero_hits, output_transform, device, skip_unrolling)

    def relevant(self, y: torch.Tensor) -> torch.Tensor:
        """Items at or above ``relevance_threshold``."""
        return y >= self.relevance_threshold

    def _discounted_gain(self, relevance: torch.Tensor, k: int) -> torch.Tensor:
        """Each row's discounted gain of its first ``k`` items (fewer if the row is shorter).

        The discounts are float32 and the gains keep the relevance's dtype, as ignite computes them, so
        the values are ignite's to the last bit.
        """
        first = relevance[:, : min(k, relevance.shape[1])]
        ranks = torch.arange(1, first.shape[1] + 1, dtype=torch.float32, device=relevance.device)
        discounts = 1.0 / torch.log2(ranks + 1)
        gains = torch.pow(2.0, first) - 1 if self.gain_function == "exp_rank" else first
        return (gains * discounts).sum(dim=-1)

    def per_query(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each query's NDCG at each ``k``."""
        relevance = torch.where(self.relevant(y), y, torch.zeros_like(y))
        order = torch.argsort(y_pred, dim=1, descending=True, stable=True)
        ranked = torch.gather(relevance, 1, order)
        ideal = torch.sort(relevance, dim=1, descending=True, stable=True).values
        values = []
        for k in self.top_k:
            gain, ideal_gain = self._discounted_gain(ranked, k), self._discounted_gain(ideal, k)
            values.append(torch.where(ideal_gain > 0, gain / ideal_gain, torch.zeros_like(gain)))
        return torch.stack(values, dim=1)
