"""ignite's deprecated path ``ignite.contrib.metrics.regression.r2_score``."""

from ember.metrics.regression.r2_score import R2Score

__all__ = ["R2Score"]
