"""What HitRate and NDCG share: the ``top_k`` argument, the input check and the per-k state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__ = ["RankingMetric"]


def _top_k_list(owner: str, top_k: Any) -> list[int]:
    values = [top_k] if isinstance(top_k, int) and not isinstance(top_k, bool) else top_k
    if not isinstance(values, (list, tuple)) or not values:
        raise TypeError(f"{owner} top_k must be a positive integer or a non-empty list of them, got {top_k!r}.")
    if any(isinstance(k, bool) or not isinstance(k, int) or k <= 0 for k in values):
        raise ValueError(f"{owner} top_k must hold positive integers only, got {top_k!r}, e.g. top_k=[1, 5, 10].")
    return sorted(values)


class RankingMetric(Metric):
    """A value per cut-off ``k`` averaged over the queries (rows) seen: ``compute()`` returns a list.

    Each row of ``y_pred`` scores the items of one query; the same row of ``y`` holds their
    relevance (0 for irrelevant). Subclasses implement :meth:`per_query`, the ``(queries, len(top_k))``
    values of one batch's kept rows, and :meth:`relevant`, which rows count a hit.
    """

    def __init__(
        self,
        top_k: Any,
        ignore_zero_hits: bool,
        output_transform: Callable[[Any], Any] | None,
        device: str | torch.device,
        skip_unrolling: bool,
    ) -> None:
        self.top_k = _top_k_list(type(self).__name__, top_k)
        self.ignore_zero_hits = bool(ignore_zero_hits)
        super().__init__(output_transform, device, skip_unrolling)
        # torch's default float dtype, as ignite's sums: the means are ignite's to the last bit (2/3 of the
        # queries is 0.6666666865348816 there, not 0.6666666666666666).
        self.add_state("sums", torch.zeros(len(self.top_k)), reduction="sum")
        self.add_state("queries", torch.tensor(0), reduction="sum")
        self.sums: torch.Tensor
        self.queries: torch.Tensor

    def relevant(self, y: torch.Tensor) -> torch.Tensor:
        """Which items count as relevant (a boolean tensor shaped like ``y``)."""
        return y > 0

    def per_query(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The values of each query for each ``k`` of :attr:`top_k`, shape ``(queries, len(top_k))``."""
        raise NotImplementedError

    def update(self, output: Any) -> None:
        """Add one batch of queries: ``y_pred`` scores and ``y`` relevances, both ``(queries, items)``."""
        y_pred, y = self._unpack_pair(output)
        if y_pred.shape != y.shape or y_pred.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} takes y_pred (scores) and y (relevances) of the same shape (queries, items), "
                f"got y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)}."
            )
        if self.ignore_zero_hits:
            kept = self.relevant(y).any(dim=1)
            y_pred, y = y_pred[kept], y[kept]
        if len(y) == 0:
            return
        values = self.per_query(y_pred, y)
        # each k's column summed on its own, as ignite sums each k's values: the same rounding
        self.sums += torch.stack([values[:, index].contiguous().sum() for index in range(len(self.top_k))])
        self.queries += len(y)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> list[float]:
        """The mean over the queries of each ``k``'s value, in increasing ``k``."""
        if int(state["queries"]) == 0:
            raise NotComputableError(
                f"{type(self).__name__} saw no query with a relevant item (ignore_zero_hits=True skips the others). "
                "Feed queries whose y has a relevant item, or pass ignore_zero_hits=False."
            )
        values: list[float] = (state["sums"] / state["queries"]).tolist()
        return values
