"""Object-detection metrics (ignite's ``ignite.metrics.vision``): COCO-style average precision and recall.

>>> import torch
>>> from ember.metrics.vision import ObjectDetectionAvgPrecisionRecall
>>> metric = ObjectDetectionAvgPrecisionRecall(num_classes=1)
>>> box = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
>>> metric.update(([{"bbox": box, "scores": torch.tensor([0.7]), "labels": torch.tensor([0])}],
...                [{"bbox": box, "labels": torch.tensor([0])}]))
>>> metric.compute()
(1.0, 1.0)
"""

from ember.metrics.vision.object_detection_average_precision_recall import ObjectDetectionAvgPrecisionRecall

__all__ = ["ObjectDetectionAvgPrecisionRecall"]
