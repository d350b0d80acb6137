"""Metrics: values accumulated over an engine's batches, attachable, distributed-correct.

Every metric follows ``reset()`` / ``update(output)`` / ``compute()`` and attaches to an engine with
``metric.attach(engine, name)``, which stores its value in ``engine.state.metrics[name]``. Under
``torch.distributed``, ``compute()`` combines the ranks' state through :mod:`ember.distributed`.
Arithmetic on metrics builds derived metrics, and any ``torchmetrics.Metric`` can be used through
:func:`as_metric` (torchmetrics is optional). ignite's module paths (``ember.metrics.accuracy``,
``ember.metrics.confusion_matrix``, ``ember.metrics.metric`` ...) import the same classes.

>>> import torch
>>> from ember.metrics import Accuracy
>>> accuracy = Accuracy()
>>> accuracy.update((torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0])))
>>> accuracy.compute()
0.5
"""

from ember.exceptions import NotComputableError
from ember.metrics import clustering as clustering  # ignite's metrics.clustering, as an attribute
from ember.metrics import fairness as fairness  # ignite's metrics.fairness, as an attribute
from ember.metrics.aggregate import Average, GeometricAverage, Loss, RunningAverage, VariableAccumulation
from ember.metrics.average_precision import AveragePrecision
from ember.metrics.classification import (
    Accuracy,
    ConfusionMatrix,
    DiceCoefficient,
    Fbeta,
    IoU,
    JaccardIndex,
    Precision,
    Recall,
    TopKCategoricalAccuracy,
    cmAccuracy,
    cmPrecision,
    cmRecall,
    mIoU,
)
from ember.metrics.classification_report import ClassificationReport
from ember.metrics.cohen_kappa import CohenKappa
from ember.metrics.cosine_similarity import CosineSimilarity
from ember.metrics.entropy import Entropy
from ember.metrics.epoch_metric import EpochMetric, EpochMetricWarning
from ember.metrics.frequency import Frequency
from ember.metrics.gan import FID, InceptionScore
from ember.metrics.gpu_info import GpuInfo
from ember.metrics.hsic import HSIC
from ember.metrics.interop import TorchmetricsMetric, as_metric, attach, is_torchmetrics_metric
from ember.metrics.js_divergence import JSDivergence
from ember.metrics.kl_divergence import KLDivergence
from ember.metrics.matthews_corrcoef import MatthewsCorrCoef
from ember.metrics.maximum_mean_discrepancy import MaximumMeanDiscrepancy
from ember.metrics.mean_average_precision import MeanAveragePrecision
from ember.metrics.mean_pairwise_distance import MeanPairwiseDistance
from ember.metrics.metric import (
    BatchFiltered,
    BatchWise,
    EpochWise,
    Metric,
    MetricsLambda,
    MetricUsage,
    RunningBatchWise,
    RunningEpochWise,
    SingleEpochRunningBatchWise,
)
from ember.metrics.metric_group import MetricGroup
from ember.metrics.multilabel_confusion_matrix import MultiLabelConfusionMatrix
from ember.metrics.mutual_information import MutualInformation
from ember.metrics.nlp import Bleu, CharacterErrorRate, Perplexity, Rouge, RougeL, RougeN
from ember.metrics.precision_recall_curve import PrecisionRecallCurve
from ember.metrics.psnr import PSNR
from ember.metrics.rec_sys import NDCG, HitRate
from ember.metrics.regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError
from ember.metrics.roc_auc import ROC_AUC, RocCurve
from ember.metrics.ssim import SSIM
from ember.metrics.vision.object_detection_average_precision_recall import (
    CommonObjectDetectionMetrics,
    ObjectDetectionAvgPrecisionRecall,
    coco_tensor_list_to_dict_list,
)

__all__ = [
    "FID",
    "HSIC",
    "NDCG",
    "PSNR",
    "ROC_AUC",
    "SSIM",
    "Accuracy",
    "Average",
    "AveragePrecision",
    "BatchFiltered",
    "BatchWise",
    "Bleu",
    "CharacterErrorRate",
    "ClassificationReport",
    "CohenKappa",
    "CommonObjectDetectionMetrics",
    "ConfusionMatrix",
    "CosineSimilarity",
    "DiceCoefficient",
    "Entropy",
    "EpochMetric",
    "EpochMetricWarning",
    "EpochWise",
    "Fbeta",
    "Frequency",
    "GeometricAverage",
    "GpuInfo",
    "HitRate",
    "InceptionScore",
    "IoU",
    "JSDivergence",
    "JaccardIndex",
    "KLDivergence",
    "Loss",
    "MatthewsCorrCoef",
    "MaximumMeanDiscrepancy",
    "MeanAbsoluteError",
    "MeanAveragePrecision",
    "MeanPairwiseDistance",
    "MeanSquaredError",
    "Metric",
    "MetricGroup",
    "MetricUsage",
    "MetricsLambda",
    "MultiLabelConfusionMatrix",
    "MutualInformation",
    "NotComputableError",
    "ObjectDetectionAvgPrecisionRecall",
    "Perplexity",
    "Precision",
    "PrecisionRecallCurve",
    "Recall",
    "RocCurve",
    "RootMeanSquaredError",
    "Rouge",
    "RougeL",
    "RougeN",
    "RunningAverage",
    "RunningBatchWise",
    "RunningEpochWise",
    "SingleEpochRunningBatchWise",
    "TopKCategoricalAccuracy",
    "TorchmetricsMetric",
    "VariableAccumulation",
    "as_metric",
    "attach",
    "cmAccuracy",
    "cmPrecision",
    "cmRecall",
    "coco_tensor_list_to_dict_list",
    "is_torchmetrics_metric",
    "mIoU",
]
