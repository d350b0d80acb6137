"""ember's object-detection metrics against pytorch-ignite 0.5.5's, on the same random images.

ignite's ObjectDetectionAvgPrecisionRecall imports two box functions from torchvision, whose wheel does
not load beside the CPU build of torch used here. The fixture below gives ignite those two functions,
``box_area`` and ``_box_inter_union``, written here from their definitions (and checked against
hand-computed boxes); the matching, counting and averaging under test are ignite's own code.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import ignite.engine
import ignite.metrics
import pytest
import torch

import ember.engine
import ember.metrics
from ember.metrics.vision.object_detection_average_precision_recall import coco_tensor_list_to_dict_list

SEEDS = (0, 1, 2, 3)
CLASSES = 3


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_inter_union(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    low = torch.max(boxes_a[:, None, :2], boxes_b[None, :, :2])
    high = torch.min(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = (high - low).clamp(min=0).prod(dim=2)
    return inter, _box_area(boxes_a)[:, None] + _box_area(boxes_b)[None, :] - inter


@pytest.fixture(autouse=True)
def torchvision_boxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """torchvision.ops.boxes with the two functions ignite's metric imports."""
    package, ops, boxes = (
        types.ModuleType(name) for name in ("torchvision", "torchvision.ops", "torchvision.ops.boxes")
    )
    boxes.box_area, boxes._box_inter_union = _box_area, _box_inter_union  # type: ignore[attr-defined]
    package.ops, ops.boxes = ops, boxes  # type: ignore[attr-defined]
    for module in (package, ops, boxes):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    yield


def test_the_box_functions_given_to_ignite_are_right() -> None:
    a, b = torch.tensor([[0.0, 0.0, 4.0, 2.0]]), torch.tensor([[2.0, 0.0, 6.0, 4.0], [10.0, 10.0, 11.0, 11.0]])
    inter, union = _box_inter_union(a, b)
    assert inter.tolist() == [[4.0, 0.0]] and union.tolist() == [[8.0 + 16.0 - 4.0, 9.0]]
    assert _box_area(b).tolist() == [16.0, 1.0]


def images(
    seed: int, count: int = 10, crowd: bool = False, twins: bool = False
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Targets of all sizes, and detections near them (jittered, relabelled, duplicated) or anywhere."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    y_pred, y = [], []
    for _ in range(count):
        targets = int(torch.randint(0, 6, (1,), generator=generator))
        corner, size = rand(targets, 2) * 200, 4 + rand(targets, 2) * rand(targets, 1) * 150
        boxes = torch.cat([corner, corner + size], dim=1)
        labels = torch.randint(0, CLASSES, (targets,), generator=generator)
        if twins:  # each target twice: equal IoUs, so which twin a detection takes matters when one is a crowd
            boxes, labels = boxes.repeat(2, 1), labels.repeat(2)
        target = {"bbox": boxes, "labels": labels}
        if crowd:
            target["iscrowd"] = (rand(len(labels)) < 0.3).long()
        near = boxes[torch.randint(0, max(targets, 1), (8,), generator=generator)] if targets else torch.zeros(8, 4)
        jitter = (rand(8, 4) - 0.5) * 0.4 * (near[:, 2:] - near[:, :2]).repeat(1, 2)
        detections = torch.where(
            rand(8, 1) < 0.75, near + jitter, torch.cat([corner_ := rand(8, 2) * 200, corner_ + 5 + rand(8, 2) * 60], 1)
        )
        keep = int(torch.randint(0, 9, (1,), generator=generator))
        relabel = torch.where(
            rand(8) < 0.8,
            labels[torch.randint(0, max(targets, 1), (8,), generator=generator)] if targets else 0,
            torch.randint(0, CLASSES, (8,), generator=generator),
        )
        y_pred.append({"bbox": detections[:keep], "scores": rand(8)[:keep], "labels": relabel[:keep].long()})
        y.append(target)
    return y_pred, y


CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "coco_defaults": ({}, False),
    "twin_targets": ({"iou_thresholds": [0.5, 0.75]}, True),
    "crowds": ({}, True),
    "iou_0.5": ({"iou_thresholds": [0.5]}, False),
    "iou_and_recall_points": ({"iou_thresholds": [0.3, 0.7], "rec_thresholds": [0.0, 0.2, 0.5, 0.9]}, True),
    "small": ({"area_range": "small"}, True),
    "medium": ({"area_range": "medium"}, False),
    "large": ({"area_range": "large"}, True),
    "one_per_class": ({"max_detections_per_image_per_class": 1}, False),
}


def value_of(library: Any, options: dict[str, Any], batches: list[Any]) -> Any:
    metric = library.ObjectDetectionAvgPrecisionRecall(num_classes=CLASSES, **options)
    for batch in batches:
        metric.update(batch)
    return metric.compute()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_ember_matches_ignite(case: str, seed: int) -> None:
    options, crowd = CASES[case]
    y_pred, y = images(seed, crowd=crowd, twins=case == "twin_targets")
    batches = [(y_pred[:3], y[:3]), (y_pred[3:4], y[3:4]), (y_pred[4:], y[4:])]
    expected = value_of(ignite.metrics, options, batches)
    actual = value_of(ember.metrics, options, batches)
    assert isinstance(actual, tuple) and len(actual) == 2
    assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_common_metrics_attached_publish_ignites_values(seed: int) -> None:
    y_pred, y = images(seed, crowd=True)
    data = [(y_pred[i : i + 4], y[i : i + 4]) for i in range(0, 10, 4)]
    published = {}
    for name, library, engine_class in (
        ("ignite", ignite.metrics, ignite.engine.Engine),
        ("ember", ember.metrics, ember.engine.Engine),
    ):
        engine = engine_class(lambda engine, batch: batch)
        library.CommonObjectDetectionMetrics(num_classes=CLASSES).attach(engine, "coco")
        published[name] = engine.run(data).metrics
    assert sorted(published["ember"]) == sorted(published["ignite"])
    assert list(published["ember"]["coco"]) == list(published["ignite"]["coco"])
    for key, value in published["ignite"]["coco"].items():
        assert published["ember"]["coco"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_no_target_gives_minus_one_in_both() -> None:
    empty = (
        [{"bbox": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}],
        [{"bbox": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}],
    )
    assert value_of(ember.metrics, {}, [empty]) == value_of(ignite.metrics, {}, [empty]) == (-1.0, -1.0)


def test_coco_tensor_list_to_dict_list_matches_ignites() -> None:
    from ignite.metrics.vision.object_detection_average_precision_recall import (
        coco_tensor_list_to_dict_list as ignites,
    )

    detections = [torch.rand(3, 6), torch.rand(0, 6)]
    for targets in ([torch.rand(2, 5), torch.rand(1, 5)], [torch.rand(2, 6), torch.rand(0, 6)]):
        expected, actual = ignites((detections, targets)), coco_tensor_list_to_dict_list((detections, targets))
        for ours, theirs in zip(actual[0] + actual[1], expected[0] + expected[1]):
            assert ours.keys() == theirs.keys()
            for key in ours:
                assert torch.equal(ours[key], theirs[key])
