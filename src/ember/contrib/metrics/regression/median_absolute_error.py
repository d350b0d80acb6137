"""ignite's deprecated path ``ignite.contrib.metrics.regression.median_absolute_error``."""

from ember.metrics.regression.median_absolute_error import MedianAbsoluteError

__all__ = ["MedianAbsoluteError"]
