"""ignite's deprecated path ``ignite.contrib.metrics.regression.median_relative_absolute_error``."""

from ember.metrics.regression.median_relative_absolute_error import MedianRelativeAbsoluteError

__all__ = ["MedianRelativeAbsoluteError"]
