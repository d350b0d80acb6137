"""ignite's deprecated path ``ignite.contrib.metrics.regression.wave_hedges_distance``."""

from ember.metrics.regression.wave_hedges_distance import WaveHedgesDistance

__all__ = ["WaveHedgesDistance"]
