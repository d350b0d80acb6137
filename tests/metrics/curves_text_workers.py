"""Code run in each process of the 2-process test of the curve, kappa, ranking, text and GAN metrics.

Every case is a metric factory and a dataset; rank 0 gets the first rows, rank 1 the (many more)
others, each fed in batches of its own size. The test compares every rank's value with one process's
value on all the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics import (
    FID,
    NDCG,
    ROC_AUC,
    AveragePrecision,
    Bleu,
    CharacterErrorRate,
    ClassificationReport,
    CohenKappa,
    CommonObjectDetectionMetrics,
    HitRate,
    InceptionScore,
    MatthewsCorrCoef,
    MeanAveragePrecision,
    Metric,
    MultiLabelConfusionMatrix,
    ObjectDetectionAvgPrecisionRecall,
    Perplexity,
    PrecisionRecallCurve,
    RocCurve,
    Rouge,
)

SIZE = 31
SHARD_END = 7  # rank 0: rows [0, 7); rank 1: rows [7, 31)
#: cases whose rank 0 sees no batch at all: the value is that of rank 1's rows
RANK_1_ONLY = ("map_binary_rank1_only",)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _binary() -> tuple[Any, Any]:
    generator = _generator(1)
    return torch.rand(SIZE, generator=generator), torch.randint(0, 2, (SIZE,), generator=generator)


def _scores() -> tuple[Any, Any]:
    generator = _generator(2)
    return torch.randn(SIZE, 4, generator=generator), torch.randint(0, 4, (SIZE,), generator=generator)


def _indices() -> tuple[Any, Any]:
    generator = _generator(3)
    return torch.randint(0, 5, (SIZE,), generator=generator), torch.randint(0, 5, (SIZE,), generator=generator)


def _multilabel() -> tuple[Any, Any]:
    generator = _generator(4)
    return torch.randint(0, 2, (SIZE, 3), generator=generator), torch.randint(0, 2, (SIZE, 3), generator=generator)


def _relevance() -> tuple[Any, Any]:
    generator = _generator(5)
    return torch.rand(SIZE, 6, generator=generator), torch.randint(0, 3, (SIZE, 6), generator=generator)


def _translations() -> tuple[Any, Any]:
    generator = _generator(6)
    words = ["the", "cat", "sat", "on", "mat"]

    def sentence() -> list[str]:
        length = int(torch.randint(1, 8, (1,), generator=generator))
        return [words[int(i)] for i in torch.randint(0, len(words), (length,), generator=generator)]

    return [sentence() for _ in range(SIZE)], [[sentence(), sentence()] for _ in range(SIZE)]


def _texts() -> tuple[Any, Any]:
    candidates, references = _translations()
    return [" ".join(words) for words in candidates], [" ".join(refs[0]) for refs in references]


def _logits() -> tuple[Any, Any]:
    generator = _generator(7)
    return torch.randn(SIZE, 5, 4, generator=generator), torch.randint(0, 5, (SIZE, 4), generator=generator)


def _images() -> tuple[Any, Any]:
    generator = _generator(8)
    return torch.rand(SIZE, 3, 2, 2, generator=generator), torch.rand(SIZE, 3, 2, 2, generator=generator) * 2


def _network(classes: int, softmax: bool) -> torch.nn.Module:
    torch.manual_seed(9)  # the same weights in every process
    last: torch.nn.Module = torch.nn.Softmax(dim=1) if softmax else torch.nn.Tanh()
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, classes), last)


class _ScoreOfFirst(InceptionScore):
    """InceptionScore fed the (samples, other) pairs of the other cases: it scores the samples."""

    def update(self, output: Any) -> None:
        super().update(output[0])


def _inception_score() -> Metric:
    return _ScoreOfFirst(num_features=4, feature_extractor=_network(4, softmax=True))


def _detections() -> tuple[Any, Any]:
    """One image per row: targets of two classes and detections near them or anywhere."""
    generator = _generator(10)
    y_pred, y = [], []
    for _ in range(SIZE):
        count = int(torch.randint(0, 4, (1,), generator=generator))
        corner = torch.rand(count, 2, generator=generator) * 150
        boxes = torch.cat([corner, corner + 8 + torch.rand(count, 2, generator=generator) * 120], dim=1)
        labels = torch.randint(0, 2, (count,), generator=generator)
        shift = (torch.rand(5, 4, generator=generator) - 0.5) * 20
        near = boxes[torch.randint(0, count, (5,), generator=generator)] + shift if count else shift.abs().cumsum(1)
        scores = torch.rand(5, generator=generator)
        guessed = (
            labels[torch.randint(0, count, (5,), generator=generator)] if count else torch.zeros(5, dtype=torch.long)
        )
        y_pred.append({"bbox": near, "scores": scores, "labels": guessed})
        y.append({"bbox": boxes, "labels": labels, "iscrowd": (torch.rand(count, generator=generator) < 0.2).long()})
    return y_pred, y


CASES: dict[str, tuple[Callable[[], Metric], Callable[[], tuple[Any, Any]]]] = {
    "roc_auc": (ROC_AUC, _binary),
    "roc_curve": (RocCurve, _binary),
    "average_precision": (AveragePrecision, _binary),
    "pr_curve": (PrecisionRecallCurve, _binary),
    "kappa": (lambda: CohenKappa(weights="quadratic"), _indices),
    "mcc": (MatthewsCorrCoef, _scores),
    "report": (lambda: ClassificationReport(output_dict=True), _scores),
    "mlcm": (lambda: MultiLabelConfusionMatrix(num_classes=3), _multilabel),
    "hit_rate": (lambda: HitRate(top_k=[1, 3]), _relevance),
    "ndcg": (lambda: NDCG(top_k=[2, 6]), _relevance),
    "bleu_macro": (lambda: Bleu(smooth="smooth1"), _translations),
    "bleu_micro": (lambda: Bleu(ngram=3, average="micro"), _translations),
    "rouge": (lambda: Rouge(variants=[1, 2, "L"], multiref="best"), _translations),
    "cer": (CharacterErrorRate, _texts),
    "perplexity": (Perplexity, _logits),
    "fid": (lambda: FID(num_features=3, feature_extractor=_network(3, softmax=False)), _images),
    "inception_score": (_inception_score, _images),
    "detection": (lambda: ObjectDetectionAvgPrecisionRecall(num_classes=2), _detections),
    "coco_summary": (lambda: CommonObjectDetectionMetrics(num_classes=2), _detections),
    "map_multiclass": (lambda: MeanAveragePrecision(class_mean="weighted"), _scores),
    "map_binary_rank1_only": (lambda: MeanAveragePrecision(rec_thresholds=[0.2, 0.6, 1.0]), _binary),
}


def plain(value: Any) -> Any:
    """A value as lists, dicts and numbers, to compare across processes."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return float(value)


def feed(name: str, rows: slice, batch_size: int) -> Any:
    """The value of case ``name`` on the rows ``rows``, fed ``batch_size`` rows at a time."""
    make, data = CASES[name]
    metric = make()
    y_pred, y = data()
    for start in range(rows.start, rows.stop, batch_size):
        stop = min(start + batch_size, rows.stop)
        metric.update((y_pred[start:stop], y[start:stop]))
    return plain(metric.compute())


def on_each_rank(local_rank: int) -> dict[str, Any]:
    shard = slice(0, SHARD_END) if local_rank == 0 else slice(SHARD_END, SIZE)
    return {
        name: feed(name, slice(0, 0) if name in RANK_1_ONLY and local_rank == 0 else shard, 3 + 2 * local_rank)
        for name in CASES
    }
