"""ignite's import path ``ignite.metrics.regression.geometric_mean_absolute_error`` (imports only)."""

from ember.metrics.regression._sums import GeometricMeanAbsoluteError

__all__ = ["GeometricMeanAbsoluteError"]
