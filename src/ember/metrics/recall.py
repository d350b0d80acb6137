"""ignite's import path ``ignite.metrics.recall``: the recall metric (imports only)."""

from ember.metrics.classification import Recall

__all__ = ["Recall"]
