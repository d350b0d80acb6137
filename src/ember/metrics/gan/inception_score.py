"""Inception score of generated samples (ignite's ``gan.inception_score``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.metrics.gan.utils import FeatureMetric

__all__ = ["InceptionScore"]

_EPS = 1e-16


class InceptionScore(FeatureMetric):
    """``exp`` of the mean KL divergence between each sample's class probabilities and their marginal.

    ``update(samples)`` takes one batch; ``feature_extractor`` maps it to class probabilities of
    shape ``(batch, num_features)`` (rows summing to 1). The default extractor is
    :class:`~ember.metrics.gan.utils.InceptionModel` (ImageNet's 1000 classes, weights downloaded
    by torchvision); pass your own classifier with a softmax and its ``num_features`` otherwise.
    Sums over samples are combined over ranks (Salimans et al., 2016).

    Args:
        num_features: the number of classes the extractor's rows hold.
        feature_extractor: a ``torch.nn.Module`` returning probabilities (applied without gradients).
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> score = InceptionScore(num_features=2)  # the inputs are the probabilities
    >>> score.update(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))  # confident and diverse: score = 2 classes
    >>> round(score.compute(), 4)
    2.0
    """

    def __init__(
        self,
        num_features: int | None = None,
        feature_extractor: torch.nn.Module | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(num_features, feature_extractor, output_transform, device, returns_features=False)
        self.add_state("probability_total", torch.zeros(self._num_features, dtype=torch.float64), reduction="sum")
        self.add_state("negative_entropy_total", torch.zeros(self._num_features, dtype=torch.float64), reduction="sum")
        self.add_state("samples", torch.tensor(0), reduction="sum")
        self.probability_total: torch.Tensor
        self.negative_entropy_total: torch.Tensor
        self.samples: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch of samples."""
        probabilities = self._features(output)
        self.probability_total += probabilities.sum(dim=0)
        self.negative_entropy_total += (probabilities * torch.log(probabilities + _EPS)).sum(dim=0)
        self.samples += len(probabilities)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """``exp(mean over samples of KL(p(y|x) || p(y)))``."""
        count = state["samples"]
        total = state["probability_total"]
        cross_entropy = total * torch.log(total / count + _EPS)
        return float(torch.exp((state["negative_entropy_total"] - cross_entropy).sum() / count))
