"""ignite's deprecated path ``ignite.contrib.metrics.regression.mean_absolute_relative_error``."""

from ember.metrics.regression.mean_absolute_relative_error import MeanAbsoluteRelativeError

__all__ = ["MeanAbsoluteRelativeError"]
