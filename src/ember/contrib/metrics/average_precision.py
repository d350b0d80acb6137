"""ignite's ``ignite.contrib.metrics.average_precision`` path: the names of :mod:`ember.metrics.average_precision`."""

from ember.metrics.average_precision import AveragePrecision

__all__ = ["AveragePrecision"]
