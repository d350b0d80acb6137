"""Hit rate at k of ranked recommendations (ignite's ``rec_sys.hitrate``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics.rec_sys._common import RankingMetric

__all__ = ["HitRate"]


class HitRate(RankingMetric):
    """The fraction of queries with a relevant item among the ``k`` best-scored, for each ``k``.

    ``y_pred`` holds scores and ``y`` relevances (> 0 relevant), both of shape ``(queries, items)``.
    ``compute()`` returns one rate per ``k`` of ``top_k``, in increasing ``k``. With
    ``ignore_zero_hits=True`` (default), queries without any relevant item are skipped. Sums are
    combined over ranks under ``torch.distributed``.

    Args:
        top_k: a cut-off or a list of them (each at most the number of items).
        ignore_zero_hits: skip queries without a relevant item.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> HitRate(top_k=[1, 2]).attach(evaluator, "hit_rate")
    >>> y_pred = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.8, 0.7]])
    >>> y = torch.tensor([[0, 1, 0], [0, 0, 1]])
    >>> evaluator.run([(y_pred, y)]).metrics["hit_rate"]
    [0.0, 1.0]
    """

    def __init__(
        self,
        top_k: list[int] | int = 1,
        ignore_zero_hits: bool = True,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(top_k, ignore_zero_hits, output_transform, device, skip_unrolling)

    def per_query(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """1.0 where a relevant item is among the query's ``k`` best, per ``k``."""
        largest = self.top_k[-1]
        if largest > y.shape[1]:
            raise ValueError(
                f"HitRate top_k={self.top_k} needs at least {largest} items per query, got {y.shape[1]}. "
                "Use cut-offs no larger than the number of items."
            )
        best = torch.topk(y_pred, k=largest, dim=1).indices
        # hit_within[:, j]: a relevant item among the first j + 1 ranked
        hit_within = torch.cummax((torch.gather(y, 1, best) > 0).to(torch.int64), dim=1).values
        return hit_within[:, [k - 1 for k in self.top_k]].to(torch.float64)
