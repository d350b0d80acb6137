"""ignite's import path ``ignite.metrics.regression.r2_score`` (imports only)."""

from ember.metrics.regression._sums import R2Score

__all__ = ["R2Score"]
