"""ignite's deprecated path ``ignite.contrib.metrics.regression.mean_error``."""

from ember.metrics.regression.mean_error import MeanError

__all__ = ["MeanError"]
