"""ignite's import path ``ignite.metrics.regression.median_absolute_percentage_error`` (imports only)."""

from ember.metrics.regression._epoch import MedianAbsolutePercentageError, median_absolute_percentage_error_compute_fn

__all__ = ["MedianAbsolutePercentageError", "median_absolute_percentage_error_compute_fn"]
