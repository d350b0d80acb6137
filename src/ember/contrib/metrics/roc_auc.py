"""ignite's ``ignite.contrib.metrics.roc_auc`` path: the same names as :mod:`ember.metrics.roc_auc`."""

from ember.metrics.roc_auc import ROC_AUC, RocCurve

__all__ = ["ROC_AUC", "RocCurve"]
