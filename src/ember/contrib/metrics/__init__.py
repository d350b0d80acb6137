"""ignite's ``ignite.contrib.metrics`` (deprecated there): the same metrics as :mod:`ember.metrics`."""

from ember.metrics.average_precision import AveragePrecision
from ember.metrics.cohen_kappa import CohenKappa
from ember.metrics.gpu_info import GpuInfo
from ember.metrics.precision_recall_curve import PrecisionRecallCurve
from ember.metrics.roc_auc import ROC_AUC, RocCurve

__all__ = ["ROC_AUC", "AveragePrecision", "CohenKappa", "GpuInfo", "PrecisionRecallCurve", "RocCurve"]
