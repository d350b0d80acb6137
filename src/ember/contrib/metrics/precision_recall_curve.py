"""ignite's ``ignite.contrib.metrics.precision_recall_curve`` path: :mod:`ember.metrics.precision_recall_curve`."""

from ember.metrics.precision_recall_curve import PrecisionRecallCurve, precision_recall_curve_compute_fn

__all__ = ["PrecisionRecallCurve", "precision_recall_curve_compute_fn"]
