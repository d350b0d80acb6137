"""ignite's import path ``ignite.metrics.regression.mean_error`` (imports only)."""

from ember.metrics.regression._sums import MeanError

__all__ = ["MeanError"]
