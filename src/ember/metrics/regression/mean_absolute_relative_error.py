"""ignite's import path ``ignite.metrics.regression.mean_absolute_relative_error`` (imports only)."""

from ember.metrics.regression._sums import MeanAbsoluteRelativeError

__all__ = ["MeanAbsoluteRelativeError"]
