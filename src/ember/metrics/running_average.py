"""ignite's import path ``ignite.metrics.running_average``: exponential moving averages (imports only)."""

from ember.metrics.aggregate import RunningAverage

__all__ = ["RunningAverage"]
