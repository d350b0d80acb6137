"""ignite's import path ``ignite.metrics.confusion_matrix``: the matrix and its scores (imports only)."""

from ember.metrics.classification import (
    ConfusionMatrix,
    DiceCoefficient,
    IoU,
    JaccardIndex,
    cmAccuracy,
    cmPrecision,
    cmRecall,
    mIoU,
)

__all__ = ["ConfusionMatrix", "DiceCoefficient", "IoU", "JaccardIndex", "cmAccuracy", "cmPrecision", "cmRecall", "mIoU"]
