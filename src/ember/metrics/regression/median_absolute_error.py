"""ignite's import path ``ignite.metrics.regression.median_absolute_error`` (imports only)."""

from ember.metrics.regression._epoch import MedianAbsoluteError, median_absolute_error_compute_fn

__all__ = ["MedianAbsoluteError", "median_absolute_error_compute_fn"]
