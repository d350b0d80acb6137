"""ignite's import path ``ignite.metrics.regression.mean_normalized_bias`` (imports only)."""

from ember.metrics.regression._sums import MeanNormalizedBias

__all__ = ["MeanNormalizedBias"]
