"""Box areas and IoU for ``(x1, y1, x2, y2)`` boxes (what the detection metrics need of torchvision's ops)."""

from __future__ import annotations

import torch

__all__ = ["box_area", "box_iou"]


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """The area of each ``(x1, y1, x2, y2)`` box."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(predicted: torch.Tensor, targets: torch.Tensor, crowd: torch.Tensor) -> torch.Tensor:
    """IoU of every predicted box with every target box, ``(P, T)``; a crowd target's IoU is over the prediction's area.

    A crowd region (COCO's ``iscrowd``) may cover many objects: a detection inside it counts as
    matching it however small it is, so the overlap is divided by the detection's own area. An
    empty union gives 0.
    """
    top_left = torch.maximum(predicted[:, None, :2], targets[None, :, :2])
    bottom_right = torch.minimum(predicted[:, None, 2:], targets[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    predicted_area = box_area(predicted)[:, None]
    union = predicted_area + box_area(targets)[None, :] - overlap
    union = torch.where(crowd[None, :], predicted_area, union)
    iou = overlap / union
    return torch.where(torch.isnan(iou), 0.0, iou)
