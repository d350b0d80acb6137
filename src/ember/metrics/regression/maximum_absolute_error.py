"""ignite's import path ``ignite.metrics.regression.maximum_absolute_error`` (imports only)."""

from ember.metrics.regression._sums import MaximumAbsoluteError

__all__ = ["MaximumAbsoluteError"]
