"""ignite's deprecated path ``ignite.contrib.metrics.regression.geometric_mean_absolute_error``."""

from ember.metrics.regression.geometric_mean_absolute_error import GeometricMeanAbsoluteError

__all__ = ["GeometricMeanAbsoluteError"]
