"""``CalinskiHarabaszScore``: ignite's ``clustering.calinski_harabasz_score`` module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics.clustering._base import ClusteringMetric, ScoreOfClusters

__all__ = ["CalinskiHarabaszScore"]


class CalinskiHarabaszScore(ClusteringMetric):
    """The Calinski-Harabasz index of the clusters (scikit-learn's ``calinski_harabasz_score``): higher is better.

    ``output`` is ``(features, labels)``: features ``(N, D)`` and integer cluster labels ``(N,)``; all
    the epoch's rows (of every rank) are scored together. With fewer than 2 clusters, or as many
    clusters as rows, the score is undefined: nan. Needs scikit-learn (``pip install 'ember[sklearn]'``).

    Args:
        output_transform, check_compute_fn, device, skip_unrolling: see :class:`~ember.metrics.EpochMetric`.

    >>> import torch
    >>> metric = CalinskiHarabaszScore()
    >>> metric.update((torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]]), torch.tensor([0, 0, 1, 1])))
    >>> round(metric.compute(), 4)
    200.0
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = True,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(
            ScoreOfClusters("calinski_harabasz_score"), output_transform, check_compute_fn, device, skip_unrolling
        )
