"""ignite's import path ``ignite.metrics.mean_squared_error``: the mean squared error (imports only)."""

from ember.metrics.regression import MeanSquaredError

__all__ = ["MeanSquaredError"]
