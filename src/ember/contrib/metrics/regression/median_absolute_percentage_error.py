"""ignite's deprecated path ``ignite.contrib.metrics.regression.median_absolute_percentage_error``."""

from ember.metrics.regression.median_absolute_percentage_error import MedianAbsolutePercentageError

__all__ = ["MedianAbsolutePercentageError"]
