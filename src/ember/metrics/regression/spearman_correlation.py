"""ignite's import path ``ignite.metrics.regression.spearman_correlation`` (imports only)."""

from ember.metrics.regression._epoch import SpearmanRankCorrelation

__all__ = ["SpearmanRankCorrelation"]
