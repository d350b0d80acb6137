"""ignite's import path ``ignite.metrics.regression.geometric_mean_relative_absolute_error`` (imports only)."""

from ember.metrics.regression._epoch import GeometricMeanRelativeAbsoluteError

__all__ = ["GeometricMeanRelativeAbsoluteError"]
