"""ignite's import path ``ignite.metrics.regression.median_relative_absolute_error`` (imports only)."""

from ember.metrics.regression._epoch import MedianRelativeAbsoluteError, median_relative_absolute_error_compute_fn

__all__ = ["MedianRelativeAbsoluteError", "median_relative_absolute_error_compute_fn"]
