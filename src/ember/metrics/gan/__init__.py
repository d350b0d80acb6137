"""Metrics of generative models (ignite's ``ignite.metrics.gan``): FID and the Inception score.

Both compute on features a network extracts: torchvision's Inception-v3 by default (its weights are
downloaded on first use), or any ``torch.nn.Module`` given as ``feature_extractor=`` with its
``num_features=``.

>>> import torch
>>> from ember.metrics.gan import InceptionScore
>>> classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4), torch.nn.Softmax(dim=1))
>>> score = InceptionScore(num_features=4, feature_extractor=classifier)
>>> score.update(torch.rand(8, 3, 2, 2))
>>> 1.0 <= score.compute() <= 4.0
True
"""

from ember.metrics.gan.fid import FID
from ember.metrics.gan.inception_score import InceptionScore

__all__ = ["FID", "InceptionScore"]
