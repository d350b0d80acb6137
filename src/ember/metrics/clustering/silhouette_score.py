"""``SilhouetteScore``: ignite's ``clustering.silhouette_score`` module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics.clustering._base import ClusteringMetric, ScoreOfClusters

__all__ = ["SilhouetteScore"]


class SilhouetteScore(ClusteringMetric):
    """The mean silhouette coefficient (scikit-learn's ``silhouette_score``): from -1 to 1, higher is better.

    ``output`` is ``(features, labels)``: features ``(N, D)`` and integer cluster labels ``(N,)``; all
    the epoch's rows (of every rank) are scored together. With fewer than 2 clusters, or as many
    clusters as rows, the score is undefined: nan. Needs scikit-learn (``pip install 'ember[sklearn]'``).

    Args:
        output_transform, check_compute_fn, device, skip_unrolling: see :class:`~ember.metrics.EpochMetric`.
        silhouette_kwargs: keyword arguments for ``silhouette_score`` (e.g. ``{"metric": "cosine"}``).

    >>> import torch
    >>> metric = SilhouetteScore()
    >>> metric.update((torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]]), torch.tensor([0, 0, 1, 1])))
    >>> round(metric.compute(), 4)
    0.9002
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = True,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        silhouette_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            ScoreOfClusters("silhouette_score", silhouette_kwargs),
            output_transform,
            check_compute_fn,
            device,
            skip_unrolling,
        )
