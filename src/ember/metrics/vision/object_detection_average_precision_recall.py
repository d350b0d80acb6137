"""COCO-style average precision and recall of detections (ignite's ``object_detection_average_precision_recall``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ember import distributed
from ember.metrics.metric import Metric
from ember.metrics.metric_group import MetricGroup
from ember.metrics.vision._boxes import box_area, box_iou

__all__ = ["CommonObjectDetectionMetrics", "ObjectDetectionAvgPrecisionRecall", "coco_tensor_list_to_dict_list"]

# COCO's object sizes, in squared pixels (both ends included, as in ignite)
_AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 1024.0), "medium": (1024.0, 9216.0), "large": (9216.0, 1e10)}
_UNMATCHED = float("-inf")
_IGNORED_OFFSET = 2.0  # a match with an ignored target scores iou - 2: below any real match, never a TP or FP


def coco_tensor_list_to_dict_list(
    output: tuple[Any, Any],
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Detections and targets given as tensors per image, as the dicts ignite's function makes of them.

    A detection tensor ``(D, 6)`` holds ``x1, y1, x2, y2, confidence, class``; a target tensor
    ``(G, 5)`` holds ``x1, y1, x2, y2, class`` (and ``(G, 6)`` an ``iscrowd`` column). They become
    ``{"bbox", "confidence", "class"}`` and ``{"bbox", "class"[, "iscrowd"]}`` dicts (ignite's keys);
    lists of dicts pass unchanged.

    >>> detections = [torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.9, 1.0]])]
    >>> y_pred, y = coco_tensor_list_to_dict_list((detections, [torch.zeros(0, 5)]))
    >>> sorted(y_pred[0]), y_pred[0]["confidence"].tolist(), sorted(y[0])
    (['bbox', 'class', 'confidence'], [0.8999999761581421], ['bbox', 'class'])
    """
    y_pred, y = output
    if len(y_pred) and isinstance(y_pred[0], torch.Tensor):
        y_pred = [{"bbox": rows[:, :4], "confidence": rows[:, 4], "class": rows[:, 5]} for rows in y_pred]
    if len(y) and isinstance(y[0], torch.Tensor):
        keys = ("class",) if y[0].shape[1] == 5 else ("class", "iscrowd")
        y = [{"bbox": rows[:, :4], **{key: rows[:, 4 + offset] for offset, key in enumerate(keys)}} for rows in y]
    return list(y_pred), list(y)


def _thresholds(values: Sequence[float] | torch.Tensor, what: str) -> torch.Tensor:
    if isinstance(values, str) or not isinstance(values, (Sequence, torch.Tensor)):
        raise TypeError(
            f"ObjectDetectionAvgPrecisionRecall {what} must be a sequence of floats or a tensor, got {values!r}."
        )
    # a list becomes a tensor of torch's default dtype first, then float64: ignite's values, to the bit
    thresholds = torch.as_tensor(values).to(torch.float64)
    if thresholds.dim() != 1 or thresholds.numel() == 0 or bool((thresholds < 0).any() or (thresholds > 1).any()):
        raise ValueError(
            f"ObjectDetectionAvgPrecisionRecall {what} must be a non-empty 1-dimensional list of values in [0, 1], "
            f"got {thresholds.tolist()}."
        )
    return thresholds.sort().values


class ObjectDetectionAvgPrecisionRecall(Metric):
    """COCO's mean average precision and recall of detections: ``(AP, AR)`` over classes and IoU thresholds.

    ``update((y_pred, y))`` takes one list entry per image: ``y_pred[i]`` a dict of ``"bbox"``
    ``(D, 4)`` boxes ``x1, y1, x2, y2``, ``"scores"`` ``(D,)`` and ``"labels"`` ``(D,)``; ``y[i]`` a
    dict of ``"bbox"`` ``(G, 4)``, ``"labels"`` ``(G,)`` and optionally ``"iscrowd"`` ``(G,)``.
    Per image and class, the ``max_detections_per_image_per_class`` best-scored detections are
    matched greedily, best first, to the unmatched target of the same class with the highest IoU
    at or above each IoU threshold (a crowd target may match many). Targets that are crowds or
    outside ``area_range`` are ignored: detections matched to them count neither way, and unmatched
    detections outside the range are not false positives. Per class and IoU threshold, AP is the
    mean over ``rec_thresholds`` of the interpolated precision (the best precision at that recall
    or beyond), and AR is the final recall; ``compute()`` averages them over the classes that have
    targets, or returns ``(-1.0, -1.0)`` when none has. Detections and per-class target counts of
    all ranks are combined under ``torch.distributed``.

    Args:
        iou_thresholds: IoU values in ``[0, 1]`` (default 0.5, 0.55, ..., 0.95).
        rec_thresholds: recall values in ``[0, 1]`` (default 0, 0.01, ..., 1).
        num_classes: the number of classes; labels lie in ``[0, num_classes)``.
        max_detections_per_image_per_class: detections kept per image and class.
        area_range: ``"all"``, ``"small"`` (up to 32²), ``"medium"`` (32² to 96²) or ``"large"``.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> metric = ObjectDetectionAvgPrecisionRecall(num_classes=2, iou_thresholds=[0.5])
    >>> detections = {"bbox": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]),
    ...               "scores": torch.tensor([0.9, 0.6]), "labels": torch.tensor([1, 1])}
    >>> targets = {"bbox": torch.tensor([[0.0, 0.0, 10.0, 9.0]]), "labels": torch.tensor([1])}
    >>> metric.update(([detections], [targets]))
    >>> metric.compute()  # the best detection finds the only target: AP 1, recall 1
    (1.0, 1.0)
    """

    required_output_keys = ("y_pred", "y")

    def __init__(
        self,
        iou_thresholds: Sequence[float] | torch.Tensor | None = None,
        rec_thresholds: Sequence[float] | torch.Tensor | None = None,
        num_classes: int = 80,
        max_detections_per_image_per_class: int = 100,
        area_range: str = "all",
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"ObjectDetectionAvgPrecisionRecall num_classes must be a positive integer, got {num_classes!r}."
            )
        limit = max_detections_per_image_per_class
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(
                "ObjectDetectionAvgPrecisionRecall max_detections_per_image_per_class must be a positive integer, "
                f"got {limit!r}."
            )
        if area_range not in _AREA_RANGES:
            raise ValueError(
                f"ObjectDetectionAvgPrecisionRecall area_range must be one of {list(_AREA_RANGES)}, got {area_range!r}."
            )
        self._iou_thresholds = _thresholds(
            torch.linspace(0.5, 0.95, 10) if iou_thresholds is None else iou_thresholds, "iou_thresholds"
        )
        self.rec_thresholds = _thresholds(
            torch.linspace(0, 1, 101) if rec_thresholds is None else rec_thresholds, "rec_thresholds"
        )
        self._num_classes = num_classes
        self._max_detections_per_image_per_class = limit
        self._area_range = area_range
        self._detections: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("target_counts", torch.zeros(num_classes, dtype=torch.int64), reduction="sum")
        self.target_counts: torch.Tensor

    def reset(self) -> None:
        """Forget the kept detections and the target counts."""
        super().reset()
        self._detections = []

    # -- update --------------------------------------------------------------------------------

    def _in_area_range(self, boxes: torch.Tensor) -> torch.Tensor:
        low, high = _AREA_RANGES[self._area_range]
        areas = box_area(boxes)
        return (areas >= low) & (areas <= high)

    def _check(self, y_pred: Any, y: Any) -> None:
        name = "ObjectDetectionAvgPrecisionRecall"
        if not isinstance(y_pred, Sequence) or not isinstance(y, Sequence) or len(y_pred) != len(y) or not y_pred:
            raise ValueError(
                f"{name} takes y_pred and y as lists of one dict per image, of the same non-zero length, got "
                f"{type(y_pred).__name__} and {type(y).__name__}."
            )
        for detections, targets in zip(y_pred, y):
            if not isinstance(detections, Mapping) or not {"bbox", "scores", "labels"} <= set(detections):
                raise ValueError(f"{name} takes each y_pred entry as a dict with 'bbox', 'scores' and 'labels'.")
            if not isinstance(targets, Mapping) or not {"bbox", "labels"} <= set(targets):
                raise ValueError(f"{name} takes each y entry as a dict with 'bbox', 'labels' (and optional 'iscrowd').")
            for what, labels in (("y_pred", detections["labels"]), ("y", targets["labels"])):
                if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self._num_classes):
                    raise ValueError(f"{name} got {what} labels outside [0, num_classes={self._num_classes}).")
            for what, boxes in (("y_pred", detections["bbox"]), ("y", targets["bbox"])):
                if boxes.dim() != 2 or boxes.shape[1] != 4:
                    raise ValueError(f"{name} takes {what} boxes of shape (boxes, 4), got {tuple(boxes.shape)}.")

    def _kept(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Indices of each class's best-scored detections, class by class, best first."""
        order = torch.argsort(scores, descending=True, stable=True)
        limit = self._max_detections_per_image_per_class
        return torch.cat([order[labels[order] == label][:limit] for label in range(self._num_classes)])

    def _match(
        self, iou: torch.Tensor, ignored: torch.Tensor, crowd: torch.Tensor, thresholds: torch.Tensor
    ) -> torch.Tensor:
        """The value each detection (in order) gets at each threshold: its IoU, IoU - 2 (ignored target) or -inf."""
        detections, targets = iou.shape
        values = (iou - _IGNORED_OFFSET * ignored.to(iou.dtype))[:, :, None].expand(-1, -1, len(thresholds))
        eligible = iou[:, :, None] >= thresholds  # same-class pairs only: iou is -inf for the others
        available = torch.ones(targets, len(thresholds), dtype=torch.bool, device=iou.device)
        matched = torch.full((detections, len(thresholds)), _UNMATCHED, dtype=iou.dtype, device=iou.device)
        columns = torch.arange(len(thresholds), device=iou.device)
        for detection in range(detections if targets else 0):
            candidates = torch.where(eligible[detection] & available, values[detection], _UNMATCHED)
            # the best target; among equals, the last one (as ignite's)
            best = targets - 1 - candidates.flip(0).argmax(dim=0)
            value = candidates[best, columns]
            matched[detection] = value
            consumed = (value > _UNMATCHED) & ~crowd[best]
            available[best[consumed], columns[consumed]] = False
        return matched

    def _image(self, detections: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> None:
        labels = targets["labels"].detach().to(self.device).long()
        boxes = targets["bbox"].detach().to(self.device, torch.float64)
        crowd = (
            targets["iscrowd"].detach().to(self.device).bool()
            if "iscrowd" in targets
            else torch.zeros_like(labels, dtype=torch.bool)
        )
        ignored = ~self._in_area_range(boxes) | crowd
        self.target_counts += torch.bincount(labels[~ignored], minlength=self._num_classes)
        if len(detections["labels"]) == 0:
            return
        scores = detections["scores"].detach().to(self.device, torch.float64)
        predicted = detections["labels"].detach().to(self.device).long()
        kept = self._kept(scores, predicted)
        predicted_boxes = detections["bbox"].detach().to(self.device, torch.float64)[kept]
        thresholds = self._iou_thresholds.to(self.device)
        iou = box_iou(predicted_boxes, boxes, crowd)
        iou = torch.where(predicted[kept][:, None] == labels[None, :], iou, _UNMATCHED)
        matched = self._match(iou, ignored, crowd, thresholds)
        true_positive = matched >= 0
        false_positive = (matched == _UNMATCHED) & self._in_area_range(predicted_boxes)[:, None]
        self._detections.append((scores[kept], predicted[kept], true_positive, false_positive))

    def update(self, output: Any) -> None:
        """Match one batch of images' detections with their targets."""
        if not isinstance(output, (tuple, list)) or len(output) != 2:
            raise ValueError(
                "ObjectDetectionAvgPrecisionRecall expects output to be a pair (y_pred, y) of lists of dicts."
            )
        y_pred, y = output
        self._check(y_pred, y)
        for detections, targets in zip(y_pred, y):
            self._image(detections, targets)

    # -- compute -------------------------------------------------------------------------------

    def _local_detections(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        thresholds = len(self._iou_thresholds)
        if not self._detections:
            empty = torch.zeros(0, thresholds, dtype=torch.bool, device=self.device)
            return (
                torch.zeros(0, dtype=torch.float64, device=self.device),
                torch.zeros(0, dtype=torch.int64, device=self.device),
                empty,
                empty,
            )
        scores, labels, true_positive, false_positive = (torch.cat(parts) for parts in zip(*self._detections))
        return scores, labels, true_positive, false_positive

    def _class_values(
        self, scores: torch.Tensor, true_positive: torch.Tensor, false_positive: torch.Tensor, targets: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One class's AP and final recall at each IoU threshold."""
        order = torch.argsort(scores, descending=True, stable=True)
        hits = true_positive[order].cumsum(dim=0).T.to(torch.float64)  # (thresholds, detections)
        misses = false_positive[order].cumsum(dim=0).T.to(torch.float64)
        recall = hits / targets
        predicted = hits + misses
        precision = hits / torch.where(predicted == 0, 1.0, predicted)
        envelope = precision.flip(-1).cummax(dim=-1).values.flip(-1)
        points = self.rec_thresholds.to(recall.device).expand(len(recall), -1).contiguous()
        first = torch.searchsorted(recall.contiguous(), points)
        sampled = torch.where(first < recall.shape[1], envelope.gather(1, first.clamp(max=recall.shape[1] - 1)), 0.0)
        return sampled.mean(dim=1), recall[:, -1]

    def _table(self) -> torch.Tensor:
        """``(2, num_classes, iou thresholds)``: AP and AR per class and threshold, -1 for classes without targets."""
        counts = self.synced_state()["target_counts"]
        local = self._local_detections()
        if distributed.get_world_size() > 1:
            local = tuple(distributed.all_gather(part) for part in local)  # type: ignore[assignment]
        scores, labels, true_positive, false_positive = local
        table = torch.full(
            (2, self._num_classes, len(self._iou_thresholds)), -1.0, dtype=torch.float64, device=self.device
        )
        for label in range(self._num_classes):
            if int(counts[label]) == 0:
                continue
            chosen = labels == label
            if not bool(chosen.any()):
                table[:, label] = 0.0
                continue
            table[0, label], table[1, label] = self._class_values(
                scores[chosen], true_positive[chosen], false_positive[chosen], int(counts[label])
            )
        return table

    def compute(self) -> tuple[float, float]:
        """``(AP, AR)``, means over the classes with targets and the IoU thresholds; ``(-1.0, -1.0)`` if none."""
        table = self._table()
        if bool((table == -1).all()):
            return -1.0, -1.0
        precision, recall = table[0], table[1]
        return float(precision[precision > -1].mean()), float(recall[recall > -1].mean())

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """This rank's target counts and kept detections, for checkpoints."""
        scores, labels, true_positive, false_positive = self._local_detections()
        return {
            "target_counts": self.target_counts.clone(),
            "detections": {"scores": scores, "labels": labels, "tp": true_positive, "fp": false_positive},
            "_updates": self._updates,
        }

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`_state_dict_per_rank` saved."""
        if not isinstance(state_dict, Mapping) or not {"target_counts", "detections", "_updates"} <= set(state_dict):
            raise KeyError(
                "ObjectDetectionAvgPrecisionRecall.load_state_dict needs 'target_counts', 'detections' and '_updates'; "
                "pass a dict saved by its state_dict()."
            )
        self.reset()
        self.target_counts = torch.as_tensor(state_dict["target_counts"]).to(self.device).clone()
        saved = state_dict["detections"]
        if len(saved["scores"]):
            scores, labels, hits, misses = (
                torch.as_tensor(saved[key]).to(self.device) for key in ("scores", "labels", "tp", "fp")
            )
            self._detections = [(scores, labels, hits, misses)]
        self._updates = int(state_dict["_updates"])


class CommonObjectDetectionMetrics(MetricGroup):
    """COCO's usual summary of detections: AP at IoU 0.5:0.95, 0.5 and 0.75, AR-100, and by object size.

    ``compute()`` returns ``{"AP@50..95", "AR-100", "AP@50", "AP@75", "AP-S", "AR-S", "AP-M",
    "AR-M", "AP-L", "AR-L", "AR-1", "AR-10"}`` (``-1.0`` where no target counts), computed by
    :class:`ObjectDetectionAvgPrecisionRecall` instances with COCO's defaults. Inputs are theirs.

    Args:
        num_classes: the number of classes.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> metrics = CommonObjectDetectionMetrics(num_classes=1)
    >>> box = torch.tensor([[0.0, 0.0, 50.0, 50.0]])
    >>> metrics.update(([{"bbox": box, "scores": torch.tensor([0.8]), "labels": torch.tensor([0])}],
    ...                 [{"bbox": box, "labels": torch.tensor([0])}]))
    >>> values = metrics.compute()
    >>> values["AP@50"], values["AP-S"], values["AP-M"]  # one medium-sized object, found exactly
    (1.0, -1.0, 1.0)
    """

    def __init__(
        self,
        num_classes: int = 80,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = True,
    ) -> None:
        def make(**options: Any) -> ObjectDetectionAvgPrecisionRecall:
            return ObjectDetectionAvgPrecisionRecall(num_classes=num_classes, device=device, **options)

        self.ap_50_95 = make()
        super().__init__(
            {
                "S": make(area_range="small"),
                "M": make(area_range="medium"),
                "L": make(area_range="large"),
                "1": make(max_detections_per_image_per_class=1),
                "10": make(max_detections_per_image_per_class=10),
            },
            output_transform,
            skip_unrolling=skip_unrolling,
        )

    def reset(self) -> None:
        """Reset every metric of the summary."""
        super().reset()
        if hasattr(self, "ap_50_95"):
            self.ap_50_95.reset()

    def update(self, output: Any) -> None:
        """Update every metric of the summary with one batch of images."""
        super().update(output)
        self.ap_50_95.update(output)

    def compute(self) -> dict[str, float]:
        """The twelve values of COCO's summary."""
        table = self.ap_50_95._table()
        at_50, at_75 = table[0, :, 0], table[0, :, 5]
        parts = super().compute()
        if bool((at_50 == -1).all()):
            overall = {"AP@50..95": -1.0, "AR-100": -1.0, "AP@50": -1.0, "AP@75": -1.0}
        else:
            overall = {
                "AP@50..95": float(table[0][table[0] > -1].mean()),
                "AR-100": float(table[1][table[1] > -1].mean()),
                "AP@50": float(at_50[at_50 > -1].mean()),
                "AP@75": float(at_75[at_75 > -1].mean()),
            }
        by_size = {f"{kind}-{size}": parts[size][index] for size in "SML" for index, kind in enumerate(("AP", "AR"))}
        return {**overall, **by_size, "AR-1": parts["1"][1], "AR-10": parts["10"][1]}

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """The states of the summary's metrics."""
        saved = super()._state_dict_per_rank()
        saved["ap_50_95"] = self.ap_50_95._state_dict_per_rank()
        return saved

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the states saved by :meth:`_state_dict_per_rank`."""
        super()._load_state_dict_per_rank(state_dict)
        self.ap_50_95._load_state_dict_per_rank(state_dict["ap_50_95"])
