"""Fréchet Inception Distance between two sets of samples (ignite's ``gan.fid``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics._optional import require
from ember.metrics.gan.utils import GAN_EXTRA, FeatureMetric

__all__ = ["FID"]


def frechet_distance(mean_a: torch.Tensor, mean_b: torch.Tensor, cov_a: torch.Tensor, cov_b: torch.Tensor) -> float:
    """``|mean_a - mean_b|² + tr(cov_a + cov_b - 2·sqrt(cov_a·cov_b))``, the square root by scipy."""
    linalg = require("scipy.linalg", "FID", GAN_EXTRA)
    np = require("numpy", "FID", GAN_EXTRA)
    root = linalg.sqrtm((cov_a @ cov_b).cpu().numpy())
    if np.iscomplexobj(root):
        largest = float(np.abs(root.imag).max())
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(
                f"FID: the square root of the covariance product has imaginary part {largest} (the features are "
                "degenerate or too few). Use more samples than features."
            )
        root = root.real
    trace_root = float(np.trace(root))
    if not np.isfinite(root).all():  # fall back on the diagonals, as ignite does
        trace_root = float(torch.sqrt(torch.diagonal(cov_a) * torch.diagonal(cov_b)).sum())
    difference = mean_a - mean_b
    return float(difference.dot(difference) + torch.trace(cov_a) + torch.trace(cov_b) - 2 * trace_root)


class FID(FeatureMetric):
    """The Fréchet distance between the feature distributions of two sets of samples (Heusel et al., 2017).

    ``update((train, test))`` takes two batches of the same size (e.g. generated and real images);
    ``feature_extractor`` maps each to ``(batch, num_features)`` rows. ``compute()`` fits a
    Gaussian to each set's features and returns their Fréchet distance (needs at least 2 samples).
    The default extractor is :class:`~ember.metrics.gan.utils.InceptionModel` (1000 class
    probabilities, as ignite's), whose weights torchvision downloads; pass your own network and
    its ``num_features`` otherwise, or ``num_features`` alone to use the inputs as features. Sums
    of features and of their outer products are combined over ranks. Needs scipy:
    ``pip install 'ember[gan]'``.

    Args:
        num_features: the size of the extractor's output rows.
        feature_extractor: a ``torch.nn.Module`` applied to each batch (without gradients).
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> fid = FID(num_features=2)  # the inputs are the features
    >>> fid.update((torch.tensor([[0.0, 0.0], [2.0, 2.0]]), torch.tensor([[1.0, 1.0], [3.0, 3.0]])))
    >>> round(fid.compute(), 4)  # equal covariances, means 1 apart in each feature
    2.0
    """

    def __init__(
        self,
        num_features: int | None = None,
        feature_extractor: torch.nn.Module | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        require("scipy.linalg", "FID", GAN_EXTRA)
        super().__init__(num_features, feature_extractor, output_transform, device, returns_features=False)
        size = self._num_features
        for which in ("train", "test"):
            self.add_state(f"{which}_total", torch.zeros(size, dtype=torch.float64), reduction="sum")
            self.add_state(f"{which}_outer", torch.zeros(size, size, dtype=torch.float64), reduction="sum")
        self.add_state("samples", torch.tensor(0), reduction="sum")
        self.samples: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch of each set: ``(train, test)`` inputs of the feature extractor."""
        if not isinstance(output, (tuple, list)) or len(output) != 2:
            raise ValueError("FID expects output (after output_transform) to be a pair (train, test) of batches.")
        train, test = (self._features(inputs) for inputs in output)
        if train.shape != test.shape:
            raise ValueError(
                f"FID takes batches of the same size from both sets, got features {tuple(train.shape)} and "
                f"{tuple(test.shape)}."
            )
        for which, features in (("train", train), ("test", test)):
            setattr(self, f"{which}_total", getattr(self, f"{which}_total") + features.sum(dim=0))
            setattr(self, f"{which}_outer", getattr(self, f"{which}_outer") + features.T @ features)
        self.samples = self.samples + len(train)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The Fréchet distance of the two fitted Gaussians."""
        count = int(state["samples"])
        if count < 2:
            raise NotComputableError(f"FID needs at least 2 samples of each set to estimate covariances, got {count}.")

        def gaussian(which: str) -> tuple[torch.Tensor, torch.Tensor]:
            total = state[f"{which}_total"]
            covariance = (state[f"{which}_outer"] - torch.outer(total, total) / count) / (count - 1)
            return total / count, covariance

        (mean_a, cov_a), (mean_b, cov_b) = gaussian("train"), gaussian("test")
        distance = frechet_distance(mean_a, mean_b, cov_a, cov_b)
        if not torch.isfinite(torch.tensor(distance)):
            warnings.warn(
                "FID is not finite: the product of the covariances is out of range. Check the features.", stacklevel=2
            )
        return distance
