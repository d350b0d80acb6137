"""ignite's deprecated path ``ignite.contrib.metrics.regression.fractional_absolute_error``."""

from ember.metrics.regression.fractional_absolute_error import FractionalAbsoluteError

__all__ = ["FractionalAbsoluteError"]
