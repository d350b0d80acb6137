"""ignite's deprecated path ``ignite.contrib.metrics.regression.manhattan_distance``."""

from ember.metrics.regression.manhattan_distance import ManhattanDistance

__all__ = ["ManhattanDistance"]
