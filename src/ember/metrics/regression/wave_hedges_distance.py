"""ignite's import path ``ignite.metrics.regression.wave_hedges_distance`` (imports only)."""

from ember.metrics.regression._sums import WaveHedgesDistance

__all__ = ["WaveHedgesDistance"]
