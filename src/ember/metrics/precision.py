"""ignite's import path ``ignite.metrics.precision``: the precision metric (imports only)."""

from ember.metrics.classification import Precision

__all__ = ["Precision"]
