"""ignite's import path ``ignite.metrics.loss``: the mean of a loss function (imports only)."""

from ember.metrics.aggregate import Loss

__all__ = ["Loss"]
