"""ignite's import path ``ignite.metrics.accuracy``: the accuracy metric (imports only)."""

from ember.metrics.classification import Accuracy

__all__ = ["Accuracy"]
