"""ignite's deprecated path ``ignite.contrib.metrics.regression.canberra_metric``."""

from ember.metrics.regression.canberra_metric import CanberraMetric

__all__ = ["CanberraMetric"]
