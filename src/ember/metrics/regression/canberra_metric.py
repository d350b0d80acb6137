"""ignite's import path ``ignite.metrics.regression.canberra_metric`` (imports only)."""

from ember.metrics.regression._sums import CanberraMetric

__all__ = ["CanberraMetric"]
