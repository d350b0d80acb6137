"""ignite's import path ``ignite.metrics.fbeta``: the F-beta score (imports only)."""

from ember.metrics.classification import Fbeta

__all__ = ["Fbeta"]
