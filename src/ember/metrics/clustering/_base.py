"""The shared part of the clustering metrics: features and cluster labels kept for the epoch, scored by scikit-learn."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ember.metrics._optional import require
from ember.metrics.epoch_metric import EpochMetric, EpochMetricWarning

__all__: list[str] = []


def sklearn_metrics(needed_by: str) -> Any:
    """``sklearn.metrics``, or a ModuleNotFoundError naming the ``sklearn`` extra."""
    return require("sklearn.metrics", needed_by, "sklearn", package="scikit-learn")


class ScoreOfClusters:
    """``compute_fn`` calling ``sklearn.metrics.<function>(features, labels, **kwargs)``; nan when undefined.

    The scores are defined for 2 to ``n_samples - 1`` distinct labels; otherwise the value is nan,
    as in ignite.
    """

    def __init__(self, function: str, kwargs: dict[str, Any] | None = None) -> None:
        self.function = function
        self.kwargs = dict(kwargs or {})

    def __call__(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        clusters = len(torch.unique(labels))
        if clusters < 2 or clusters >= labels.shape[0]:
            return float("nan")
        score = getattr(sklearn_metrics(self.function), self.function)
        return float(score(features.cpu().numpy(), labels.cpu().numpy(), **self.kwargs))


class ClusteringMetric(EpochMetric):
    """An :class:`~ember.metrics.EpochMetric` of ``(features, labels)``: features ``(N, D)``, labels ``(N,)``.

    Attached, a dict output gives its ``"features"`` and ``"labels"`` items (ignite's keys).
    """

    required_output_keys = ("features", "labels")

    def __init__(
        self,
        compute_fn: Callable[[torch.Tensor, torch.Tensor], float],
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = True,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        sklearn_metrics(type(self).__name__)
        super().__init__(compute_fn, output_transform, check_compute_fn, device, skip_unrolling)

    def update(self, output: Any) -> None:
        """Check and keep one batch's features and cluster labels."""
        name = type(self).__name__
        features, labels = self._unpack_pair(output)
        if features.dim() != 2:
            raise ValueError(
                f"{name} expects features of shape (N, D), got {tuple(features.shape)}. Flatten each example's "
                "features, e.g. features.reshape(len(features), -1)."
            )
        if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
            raise ValueError(
                f"{name} expects labels of shape (N,) with N = {features.shape[0]} (one cluster per row of "
                f"features), got {tuple(labels.shape)}."
            )
        if labels.is_floating_point() or labels.is_complex():
            raise TypeError(f"{name} expects integer cluster labels, got {labels.dtype}. Pass labels.long().")
        if self._predictions and (
            features.dtype != self._predictions[-1].dtype or labels.dtype != self._targets[-1].dtype
        ):
            raise ValueError(
                f"{name} got features {features.dtype} and labels {labels.dtype} after {self._predictions[-1].dtype} "
                f"and {self._targets[-1].dtype}. Keep the dtypes the same between resets."
            )
        self._predictions.append(features.clone())
        self._targets.append(labels.clone())
        if self._check_compute_fn and len(self._predictions) == 1:
            self._try_compute_fn(features, labels)

    def _try_compute_fn(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        try:
            with np.errstate(all="ignore"):
                self.compute_fn(features, labels)
        except Exception as error:  # warned, not hidden: the epoch's data may still suit compute_fn
            warnings.warn(
                f"{type(self).__name__} failed on the first batch with {type(error).__name__}: {error}. compute() "
                "will score the whole epoch; pass check_compute_fn=False to skip this check.",
                EpochMetricWarning,
                stacklevel=3,
            )
