"""ignite's import path ``ignite.metrics.regression.fractional_absolute_error`` (imports only)."""

from ember.metrics.regression._sums import FractionalAbsoluteError

__all__ = ["FractionalAbsoluteError"]
