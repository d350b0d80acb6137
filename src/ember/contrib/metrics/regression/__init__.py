"""ignite's deprecated ``ignite.contrib.metrics.regression``: the metrics of :mod:`ember.metrics.regression`.

As in ignite, the lowercase names (``canberra_metric`` ...) are the modules of ``ember.metrics.regression``.
"""

from ember.metrics.regression import (
    canberra_metric,
    fractional_absolute_error,
    fractional_bias,
    geometric_mean_absolute_error,
    geometric_mean_relative_absolute_error,
    manhattan_distance,
    maximum_absolute_error,
    mean_absolute_relative_error,
    mean_error,
    mean_normalized_bias,
    median_absolute_error,
    median_absolute_percentage_error,
    median_relative_absolute_error,
    r2_score,
    wave_hedges_distance,
)
from ember.metrics.regression.canberra_metric import CanberraMetric
from ember.metrics.regression.fractional_absolute_error import FractionalAbsoluteError
from ember.metrics.regression.fractional_bias import FractionalBias
from ember.metrics.regression.geometric_mean_absolute_error import GeometricMeanAbsoluteError
from ember.metrics.regression.geometric_mean_relative_absolute_error import GeometricMeanRelativeAbsoluteError
from ember.metrics.regression.manhattan_distance import ManhattanDistance
from ember.metrics.regression.maximum_absolute_error import MaximumAbsoluteError
from ember.metrics.regression.mean_absolute_relative_error import MeanAbsoluteRelativeError
from ember.metrics.regression.mean_error import MeanError
from ember.metrics.regression.mean_normalized_bias import MeanNormalizedBias
from ember.metrics.regression.median_absolute_error import MedianAbsoluteError
from ember.metrics.regression.median_absolute_percentage_error import MedianAbsolutePercentageError
from ember.metrics.regression.median_relative_absolute_error import MedianRelativeAbsoluteError
from ember.metrics.regression.r2_score import R2Score
from ember.metrics.regression.wave_hedges_distance import WaveHedgesDistance

__all__ = [
    "CanberraMetric",
    "FractionalAbsoluteError",
    "FractionalBias",
    "GeometricMeanAbsoluteError",
    "GeometricMeanRelativeAbsoluteError",
    "ManhattanDistance",
    "MaximumAbsoluteError",
    "MeanAbsoluteRelativeError",
    "MeanError",
    "MeanNormalizedBias",
    "MedianAbsoluteError",
    "MedianAbsolutePercentageError",
    "MedianRelativeAbsoluteError",
    "R2Score",
    "WaveHedgesDistance",
    "canberra_metric",
    "fractional_absolute_error",
    "fractional_bias",
    "geometric_mean_absolute_error",
    "geometric_mean_relative_absolute_error",
    "manhattan_distance",
    "maximum_absolute_error",
    "mean_absolute_relative_error",
    "mean_error",
    "mean_normalized_bias",
    "median_absolute_error",
    "median_absolute_percentage_error",
    "median_relative_absolute_error",
    "r2_score",
    "wave_hedges_distance",
]
