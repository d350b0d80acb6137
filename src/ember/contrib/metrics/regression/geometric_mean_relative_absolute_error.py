"""ignite's deprecated path ``ignite.contrib.metrics.regression.geometric_mean_relative_absolute_error``."""

from ember.metrics.regression.geometric_mean_relative_absolute_error import GeometricMeanRelativeAbsoluteError

__all__ = ["GeometricMeanRelativeAbsoluteError"]
