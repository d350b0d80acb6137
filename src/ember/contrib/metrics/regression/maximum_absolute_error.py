"""ignite's deprecated path ``ignite.contrib.metrics.regression.maximum_absolute_error``."""

from ember.metrics.regression.maximum_absolute_error import MaximumAbsoluteError

__all__ = ["MaximumAbsoluteError"]
