"""ignite's import path ``ignite.metrics.accumulation``: accumulating metrics (imports only)."""

from ember.metrics.aggregate import Average, GeometricAverage, VariableAccumulation

__all__ = ["Average", "GeometricAverage", "VariableAccumulation"]
