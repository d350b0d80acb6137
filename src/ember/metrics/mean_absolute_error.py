"""ignite's import path ``ignite.metrics.mean_absolute_error``: the mean absolute error (imports only)."""

from ember.metrics.regression import MeanAbsoluteError

__all__ = ["MeanAbsoluteError"]
