"""The object-detection metrics: hand-worked matches, bad inputs refused when fed, checkpoints."""

from __future__ import annotations

import pytest
import torch

from ember.metrics import CommonObjectDetectionMetrics, ObjectDetectionAvgPrecisionRecall
from ember.metrics.vision._boxes import box_iou


def detections(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict[str, torch.Tensor]:
    return {"bbox": torch.tensor(boxes).reshape(-1, 4), "scores": torch.tensor(scores), "labels": torch.tensor(labels)}


def targets(boxes: list[list[float]], labels: list[int], crowd: list[int] | None = None) -> dict[str, torch.Tensor]:
    found = {"bbox": torch.tensor(boxes).reshape(-1, 4), "labels": torch.tensor(labels)}
    if crowd is not None:
        found["iscrowd"] = torch.tensor(crowd)
    return found


def test_iou_of_hand_worked_boxes_and_a_crowd_region() -> None:
    iou = box_iou(
        torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
        torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 8.0, 8.0]]),
        torch.tensor([False, True]),
    )
    assert iou[0].tolist() == pytest.approx([2.0 / 6.0, 1.0])  # the crowd region covers the whole detection


def test_a_duplicate_detection_is_a_false_positive() -> None:
    """Two detections of one object: the better-scored matches (TP), the other does not (FP): AP at recall 1 is 1."""
    metric = ObjectDetectionAvgPrecisionRecall(num_classes=1, iou_thresholds=[0.5], rec_thresholds=[0.0, 1.0])
    box = [0.0, 0.0, 10.0, 10.0]
    metric.update(([detections([box, box], [0.9, 0.8], [0, 0])], [targets([box], [0])]))
    assert metric.compute() == (1.0, 1.0)
    missed = ObjectDetectionAvgPrecisionRecall(num_classes=1, iou_thresholds=[0.5], rec_thresholds=[0.0, 1.0])
    # the better-scored detection is elsewhere: precision 1/2 when recall reaches 1
    missed.update(([detections([[50.0, 50.0, 60.0, 60.0], box], [0.9, 0.8], [0, 0])], [targets([box], [0])]))
    assert missed.compute() == (0.5, 1.0)


def test_detections_on_crowds_count_neither_way() -> None:
    metric = ObjectDetectionAvgPrecisionRecall(num_classes=1, iou_thresholds=[0.5], rec_thresholds=[0.0, 1.0])
    crowd, person = [0.0, 0.0, 100.0, 100.0], [200.0, 200.0, 210.0, 210.0]
    found = detections([[10.0, 10.0, 20.0, 20.0], [30.0, 30.0, 40.0, 40.0], person], [0.9, 0.8, 0.5], [0, 0, 0])
    metric.update(([found], [targets([crowd, person], [0, 0], crowd=[1, 0])]))
    assert metric.compute() == (1.0, 1.0)


def test_no_target_gives_minus_one() -> None:
    metric = ObjectDetectionAvgPrecisionRecall(num_classes=2)
    metric.update(([detections([[0.0, 0.0, 1.0, 1.0]], [0.5], [1])], [targets([], [])]))
    assert metric.compute() == (-1.0, -1.0)


@pytest.mark.parametrize(
    ("output", "match"),
    [
        (([], []), "non-zero length"),
        (([detections([], [], [])], []), "same non-zero length"),
        (([{"bbox": torch.zeros(0, 4)}], [targets([], [])]), "'scores' and 'labels'"),
        (([detections([], [], [])], [{"labels": torch.zeros(0)}]), "'bbox', 'labels'"),
        (
            ([detections([[0.0, 0.0, 1.0, 1.0]], [0.5], [3])], [targets([], [])]),
            r"y_pred labels outside \[0, num_classes=2\)",
        ),
        (([detections([], [], [])], [{"bbox": torch.zeros(2, 3), "labels": torch.zeros(2)}]), r"shape \(boxes, 4\)"),
        ("boxes", "pair"),
    ],
)
def test_bad_inputs_are_refused_at_update(output: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ObjectDetectionAvgPrecisionRecall(num_classes=2).update(output)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"max_detections_per_image_per_class": 0}, "max_detections"),
        ({"area_range": "huge"}, "area_range"),
        ({"iou_thresholds": [0.5, 1.2]}, r"\[0, 1\]"),
        ({"rec_thresholds": []}, "non-empty"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ObjectDetectionAvgPrecisionRecall(**kwargs)  # type: ignore[arg-type]


def test_a_checkpoint_restores_the_detections_and_counts() -> None:
    box = [0.0, 0.0, 40.0, 40.0]
    batch = (
        [detections([box, [60.0, 0.0, 90.0, 30.0]], [0.9, 0.7], [0, 1])],
        [targets([box, [61.0, 0.0, 90.0, 31.0]], [0, 1])],
    )
    summary = CommonObjectDetectionMetrics(num_classes=2)
    summary.update(batch)
    restored = CommonObjectDetectionMetrics(num_classes=2)
    restored.load_state_dict(summary.state_dict())
    assert restored.compute() == summary.compute()
    assert summary.compute()["AP@50"] == 1.0
