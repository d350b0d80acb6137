"""ignite's import path ``ignite.metrics.metrics_lambda``: derived metrics (imports only)."""

from ember.metrics.metric import MetricsLambda

__all__ = ["MetricsLambda"]
