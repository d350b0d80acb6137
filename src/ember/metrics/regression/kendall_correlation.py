"""ignite's import path ``ignite.metrics.regression.kendall_correlation`` (imports only)."""

from ember.metrics.regression._epoch import KendallRankCorrelation

__all__ = ["KendallRankCorrelation"]
