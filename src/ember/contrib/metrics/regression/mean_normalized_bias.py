"""ignite's deprecated path ``ignite.contrib.metrics.regression.mean_normalized_bias``."""

from ember.metrics.regression.mean_normalized_bias import MeanNormalizedBias

__all__ = ["MeanNormalizedBias"]
