"""ignite's deprecated path ``ignite.contrib.metrics.regression.fractional_bias``."""

from ember.metrics.regression.fractional_bias import FractionalBias

__all__ = ["FractionalBias"]
