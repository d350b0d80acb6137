"""The Inception network and the feature-extraction base of FID and InceptionScore (ignite's ``gan.utils``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics._optional import require
from ember.metrics.metric import Metric

__all__ = ["InceptionModel"]

#: the extra that installs what the GAN metrics compute with (scipy, torchvision)
GAN_EXTRA = "gan"
#: the number of classes of ImageNet, the default features of FID and InceptionScore
IMAGENET_CLASSES = 1000


class InceptionModel(torch.nn.Module):
    """torchvision's Inception-v3 with ImageNet weights, as FID and InceptionScore use by default.

    ``return_features=True`` replaces the classifier with the identity (2048 pooled features);
    ``False`` appends a softmax (1000 class probabilities). The weights are downloaded by
    torchvision on first use; without torchvision or without network access, build the metric with
    your own ``feature_extractor`` and ``num_features`` instead. Needs ``pip install 'ember[gan]'``.

    Args:
        return_features: pooled features instead of class probabilities.
        device: where the network runs.

    Example (needs torchvision and the downloaded weights)::

        model = InceptionModel(return_features=False)
        probabilities = model(torch.rand(4, 3, 299, 299))  # (4, 1000)
    """

    def __init__(self, return_features: bool, device: str | torch.device = "cpu") -> None:
        models = require(
            "torchvision.models", "InceptionModel (the default network of FID and InceptionScore)", GAN_EXTRA
        )
        super().__init__()
        self._device = torch.device(device)
        try:
            network = models.inception_v3(weights=models.Inception_V3_Weights.DEFAULT)
        except Exception as error:  # the download needs network access; re-raised with the way out
            raise RuntimeError(
                f"InceptionModel could not load torchvision's Inception-v3 weights ({type(error).__name__}: {error}). "
                "They are downloaded on first use: connect to the internet once, or pass your own network to the "
                "metric, e.g. FID(num_features=..., feature_extractor=my_network)."
            ) from error
        network.fc = (
            torch.nn.Identity() if return_features else torch.nn.Sequential(network.fc, torch.nn.Softmax(dim=1))
        )
        self.model = network.to(self._device).eval()

    @torch.no_grad()
    def forward(self, data: torch.Tensor) -> torch.Tensor:
        """Features or probabilities of images ``(N, 3, H, W)``."""
        if data.dim() != 4 or data.shape[1] != 3:
            raise ValueError(f"InceptionModel takes RGB images of shape (N, 3, H, W), got {tuple(data.shape)}.")
        output: torch.Tensor = self.model(data.to(self._device))
        return output


class FeatureMetric(Metric):
    """A metric of the features a network extracts from its inputs (FID and InceptionScore's base)."""

    def __init__(
        self,
        num_features: int | None,
        feature_extractor: torch.nn.Module | None,
        output_transform: Callable[[Any], Any] | None,
        device: str | torch.device,
        returns_features: bool,
    ) -> None:
        name = type(self).__name__
        if feature_extractor is None and num_features is None:
            num_features = IMAGENET_CLASSES
            try:
                feature_extractor = InceptionModel(return_features=returns_features, device=device)
            except ModuleNotFoundError as error:
                raise ModuleNotFoundError(
                    f"{name} without a feature_extractor uses torchvision's Inception-v3. {error} Or pass your own "
                    f"network: {name}(num_features=..., feature_extractor=my_network)."
                ) from error
        if num_features is None:
            raise ValueError(
                f"{name} got a feature_extractor without num_features: pass num_features, the size of the "
                "extractor's output rows."
            )
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{name} num_features must be a positive integer, got {num_features!r}.")
        if feature_extractor is not None and not isinstance(feature_extractor, torch.nn.Module):
            raise TypeError(
                f"{name} feature_extractor must be a torch.nn.Module, got {type(feature_extractor).__name__}. "
                "Wrap a function in a Module, or leave it out to use the inputs as features."
            )
        self._num_features = num_features
        # without an extractor, the inputs themselves are the features (as in ignite)
        self._feature_extractor = (feature_extractor or torch.nn.Identity()).to(device)
        super().__init__(output_transform, device)

    def _features(self, inputs: torch.Tensor) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"{type(self).__name__} takes tensors of samples, got {type(inputs).__name__}.")
        with torch.no_grad():
            features: torch.Tensor = self._feature_extractor(inputs.detach().to(self.device))
        features = features.to(self.device, torch.float64)
        if features.dim() != 2 or features.shape[1] != self._num_features or features.shape[0] == 0:
            raise ValueError(
                f"{type(self).__name__} needs the feature extractor to return (batch, num_features="
                f"{self._num_features}) rows for a non-empty batch, got shape {tuple(features.shape)} from inputs "
                f"{tuple(inputs.shape)}."
            )
        return features
