"""Regression metrics: ember's MSE/MAE/RMSE and ignite's whole ``metrics.regression`` family.

The inputs are ``(y_pred, y)`` pairs. :class:`MeanSquaredError`, :class:`MeanAbsoluteError` and
:class:`RootMeanSquaredError` take any shape ``(N, ...)``; ignite's family (R², correlations,
distances, relative and median errors) takes one value per example, ``(N,)`` or ``(N, 1)``, in a
float dtype. Each has ignite's module path (``ember.metrics.regression.r2_score`` ...) and values.

>>> import torch
>>> from ember.metrics.regression import R2Score
>>> r2 = R2Score()
>>> r2.update((torch.tensor([2.5, 0.0, 2.0, 8.0]), torch.tensor([3.0, -0.5, 2.0, 7.0])))
>>> round(r2.compute(), 4)
0.9486
"""

from ember.metrics.regression._errors import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError
from ember.metrics.regression.canberra_metric import CanberraMetric
from ember.metrics.regression.fractional_absolute_error import FractionalAbsoluteError
from ember.metrics.regression.fractional_bias import FractionalBias
from ember.metrics.regression.geometric_mean_absolute_error import GeometricMeanAbsoluteError
from ember.metrics.regression.geometric_mean_relative_absolute_error import GeometricMeanRelativeAbsoluteError
from ember.metrics.regression.kendall_correlation import KendallRankCorrelation
from ember.metrics.regression.manhattan_distance import ManhattanDistance
from ember.metrics.regression.maximum_absolute_error import MaximumAbsoluteError
from ember.metrics.regression.mean_absolute_relative_error import MeanAbsoluteRelativeError
from ember.metrics.regression.mean_error import MeanError
from ember.metrics.regression.mean_normalized_bias import MeanNormalizedBias
from ember.metrics.regression.median_absolute_error import MedianAbsoluteError, median_absolute_error_compute_fn
from ember.metrics.regression.median_absolute_percentage_error import (
    MedianAbsolutePercentageError,
    median_absolute_percentage_error_compute_fn,
)
from ember.metrics.regression.median_relative_absolute_error import (
    MedianRelativeAbsoluteError,
    median_relative_absolute_error_compute_fn,
)
from ember.metrics.regression.pearson_correlation import PearsonCorrelation
from ember.metrics.regression.r2_score import R2Score
from ember.metrics.regression.spearman_correlation import SpearmanRankCorrelation
from ember.metrics.regression.wave_hedges_distance import WaveHedgesDistance

__all__ = [
    "CanberraMetric",
    "FractionalAbsoluteError",
    "FractionalBias",
    "GeometricMeanAbsoluteError",
    "GeometricMeanRelativeAbsoluteError",
    "KendallRankCorrelation",
    "ManhattanDistance",
    "MaximumAbsoluteError",
    "MeanAbsoluteError",
    "MeanAbsoluteRelativeError",
    "MeanError",
    "MeanNormalizedBias",
    "MeanSquaredError",
    "MedianAbsoluteError",
    "MedianAbsolutePercentageError",
    "MedianRelativeAbsoluteError",
    "PearsonCorrelation",
    "R2Score",
    "RootMeanSquaredError",
    "SpearmanRankCorrelation",
    "WaveHedgesDistance",
    "median_absolute_error_compute_fn",
    "median_absolute_percentage_error_compute_fn",
    "median_relative_absolute_error_compute_fn",
]
