"""ignite's import path ``ignite.metrics.root_mean_squared_error``: the root mean squared error (imports only)."""

from ember.metrics.regression import RootMeanSquaredError

__all__ = ["RootMeanSquaredError"]
