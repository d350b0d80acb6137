"""``JSDivergence``: the mean Jensen-Shannon divergence of predicted and target distributions (ignite's path)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ember.metrics.kl_divergence import KLDivergence

__all__ = ["JSDivergence"]


class JSDivergence(KLDivergence):
    """The mean over predictions of ``JS(p, q) = (KL(p ‖ m) + KL(q ‖ m)) / 2`` with ``m = (p + q) / 2``.

    ``p = softmax(y_pred)`` and ``q = softmax(y)``; inputs as :class:`~ember.metrics.KLDivergence`.

    >>> import torch
    >>> metric = JSDivergence()
    >>> metric.update((torch.tensor([[50.0, 0.0]]), torch.tensor([[0.0, 50.0]])))  # disjoint: log 2
    >>> round(metric.compute(), 6)
    0.693147
    """

    _per_example = 2

    def _divergence_sum(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p, log_q = F.log_softmax(scores, dim=1), F.log_softmax(targets, dim=1)
        log_m = ((F.softmax(scores, dim=1) + F.softmax(targets, dim=1)) / 2).log()
        return F.kl_div(log_m, log_p, reduction="sum", log_target=True) + F.kl_div(
            log_m, log_q, reduction="sum", log_target=True
        )
