"""ignite's import path ``ignite.metrics.regression.manhattan_distance`` (imports only)."""

from ember.metrics.regression._sums import ManhattanDistance

__all__ = ["ManhattanDistance"]
