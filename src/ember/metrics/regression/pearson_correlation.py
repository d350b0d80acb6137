"""ignite's import path ``ignite.metrics.regression.pearson_correlation`` (imports only)."""

from ember.metrics.regression._sums import PearsonCorrelation

__all__ = ["PearsonCorrelation"]
