"""ignite's import path ``ignite.metrics.regression.fractional_bias`` (imports only)."""

from ember.metrics.regression._sums import FractionalBias

__all__ = ["FractionalBias"]
