"""Code run in each process of the 2-process metric tests (importable, so spawned processes can load it)."""

from __future__ import annotations

import io
from typing import Any

import torch
import torch.nn.functional as F
import torchmetrics

from ember.engine import Engine
from ember.exceptions import NotComputableError
from ember.metrics import (
    Accuracy,
    Average,
    ConfusionMatrix,
    EpochMetric,
    Fbeta,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    Precision,
    Recall,
    RootMeanSquaredError,
    RunningAverage,
    TopKCategoricalAccuracy,
    as_metric,
)
from ember.metrics.metric import reinit__is_reduced, sync_all_reduce

CLASSES = 4
SIZE = 23
SHARD_END = 7  # rank 0 gets rows [0, 7), rank 1 rows [7, 23): uneven shards


def dataset() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    scores = torch.randn(SIZE, CLASSES, generator=generator)
    labels = torch.randint(0, CLASSES, (SIZE,), generator=generator)
    predictions = torch.randn(SIZE, generator=generator)
    targets = torch.randn(SIZE, generator=generator)
    return scores, labels, predictions, targets


def build_metrics() -> dict[str, Metric]:
    precision, recall = Precision(average="macro"), Recall(average="macro")
    return {
        "accuracy": Accuracy(),
        "precision": Precision(average=None),
        "recall_weighted": Recall(average="weighted"),
        "f2_micro": Fbeta(beta=2.0, average="micro"),
        "f1_derived": 2 * precision * recall / (precision + recall),
        "confusion": ConfusionMatrix(CLASSES),
        "top2": TopKCategoricalAccuracy(k=2),
        "loss": Loss(F.cross_entropy),
        "torchmetrics": as_metric(torchmetrics.classification.MulticlassAccuracy(num_classes=CLASSES, average="micro")),
    }


def build_regression() -> dict[str, Metric]:
    return {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "rmse": RootMeanSquaredError()}


def run_metrics(rows: slice, batch_size: int) -> dict[str, Any]:
    """Feed the rows of ``rows`` in batches to every metric; return the computed values."""
    scores, labels, predictions, targets = dataset()
    classification, regression = build_metrics(), build_regression()
    for start in range(rows.start, rows.stop, batch_size):
        stop = min(start + batch_size, rows.stop)
        for metric in classification.values():
            metric.update((scores[start:stop], labels[start:stop]))
        for metric in regression.values():
            metric.update((predictions[start:stop], targets[start:stop]))
    values = {name: metric.compute() for name, metric in {**classification, **regression}.items()}
    return {name: value.tolist() if isinstance(value, torch.Tensor) else value for name, value in values.items()}


class AccuracyIgnoringAClass(Metric):
    """A custom metric written the way ignite's documentation teaches (state in reset, decorated methods)."""

    def __init__(self, ignored_class: int, output_transform: Any = lambda x: x, device: str = "cpu") -> None:
        self.ignored_class = ignored_class
        self._num_correct: torch.Tensor | None = None
        self._num_examples: int | None = None
        super().__init__(output_transform=output_transform, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        self._num_correct = torch.tensor(0, device=self._device)
        self._num_examples = 0
        super().reset()

    @reinit__is_reduced
    def update(self, output: Any) -> None:
        y_pred, y = output[0].detach(), output[1].detach()
        kept = y != self.ignored_class
        right = (y_pred.argmax(dim=1) == y) & kept
        self._num_correct += right.sum().to(self._device)
        self._num_examples += int(kept.sum())

    @sync_all_reduce("_num_examples", "_num_correct:SUM")
    def compute(self) -> float:
        if not self._num_examples:
            raise NotComputableError("AccuracyIgnoringAClass needs at least one example before compute().")
        return int(self._num_correct) / self._num_examples


def class_count_metrics() -> dict[str, Metric]:
    """Metrics that learn the number of classes from the data."""
    return {
        "precision": Precision(average=None),
        "recall_macro": Recall(average="macro"),
        "f1": Fbeta(1.0),
        "f1_weighted": Fbeta(1.0, average="weighted"),
        "binary_precision": Precision(),
        "epoch_top1": EpochMetric(top1_fraction),
    }


def top1_fraction(y_preds: torch.Tensor, ys: torch.Tensor) -> float:
    """An EpochMetric function: the fraction of rows whose arg-max is the label."""
    return float((y_preds.argmax(dim=1) == ys).double().mean())


def feed_class_counts(rows: slice) -> dict[str, Any]:
    """The class-count metrics over ``rows`` (none for an empty slice), computed."""
    scores, labels, _, _ = dataset()
    metrics = class_count_metrics()
    for start in range(rows.start, rows.stop, 5):
        stop = min(start + 5, rows.stop)
        for name, metric in metrics.items():
            if name == "binary_precision":
                metric.update((scores[start:stop, 0] > 0, labels[start:stop] % 2))
            else:
                metric.update((scores[start:stop], labels[start:stop]))
    values = {name: metric.compute() for name, metric in metrics.items()}
    return {name: value.tolist() if isinstance(value, torch.Tensor) else value for name, value in values.items()}


def custom_metric_values(rows: slice) -> dict[str, Any]:
    scores, labels, _, _ = dataset()
    engine = Engine(lambda engine, batch: {"y_pred": batch[0], "y": batch[1]})
    metric = AccuracyIgnoringAClass(ignored_class=0)
    metric.attach(engine, "accuracy")
    starts = range(rows.start, rows.stop, 4)
    batches = [
        (scores[start : min(start + 4, rows.stop)], labels[start : min(start + 4, rows.stop)]) for start in starts
    ]
    value = engine.run(batches).metrics["accuracy"]
    return {"value": value, "again": metric.compute(), "examples_after": metric._num_examples}


def on_each_rank(local_rank: int) -> dict[str, Any]:
    shard = slice(0, SHARD_END) if local_rank == 0 else slice(SHARD_END, SIZE)
    results: dict[str, Any] = {"values": run_metrics(shard, batch_size=3 + local_rank)}

    # A metric attached to an engine: rank 0 runs 2 iterations, rank 1 runs 4 (uneven epochs).
    engine = Engine(lambda engine, batch: batch)
    Average().attach(engine, "mean")
    data = [float(local_rank * 10 + i) for i in range(2 + 2 * local_rank)]
    results["engine_mean"] = engine.run(data).metrics["mean"]

    # Each rank smooths its own values; the published average is the mean of the ranks' averages.
    running = RunningAverage(alpha=0.5)
    for value in (local_rank * 10.0, local_rank * 10.0 + 2.0):
        running.update(value)
    results["running"] = running.compute()

    # A rank with no updates still takes part in compute(); the value covers the other rank's data.
    accuracy = Accuracy()
    if local_rank == 1:
        accuracy.update((torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1])))
    results["one_sided"] = accuracy.compute()

    # Rank 0 sees no batch: the ranks agree on the number and kind of classes before combining counts.
    results["empty_shard"] = feed_class_counts(slice(0, 0) if local_rank == 0 else slice(0, SIZE))

    # A metric written the ignite way: its sync_all_reduce'd state covers both shards.
    results["custom"] = custom_metric_values(shard)

    # No rank has updates: every rank raises, and none waits forever for the others.
    try:
        MeanSquaredError().compute()
    except NotComputableError as error:
        results["not_computable"] = str(error)
    return results


# -- a checkpoint written mid-run on 2 ranks, loaded on 2 fresh ranks ---------------------------------

BATCHES_BEFORE_CHECKPOINT = 2  # rank 0 then has 1 batch left, rank 1 has 2: uneven


def shard_batches(local_rank: int) -> list[slice]:
    """The rank's batches: rank 0 rows [0, 7) by 3, rank 1 rows [7, 23) by 4."""
    shard = slice(0, SHARD_END) if local_rank == 0 else slice(SHARD_END, SIZE)
    size = 3 + local_rank
    return [slice(start, min(start + size, shard.stop)) for start in range(shard.start, shard.stop, size)]


def resumable_metrics() -> dict[str, Metric]:
    """Metrics of every kind of state: sums, counts, per-class counts, kept rows, derived, torchmetrics."""
    return {
        **build_metrics(),
        **build_regression(),
        "average": Average(),
        "f1": Fbeta(1.0, average="macro"),
        "epoch_top1": EpochMetric(top1_fraction),
    }


def feed_resumable(metrics: dict[str, Metric], batches: list[slice]) -> None:
    scores, labels, predictions, targets = dataset()
    for rows in batches:
        for name, metric in metrics.items():
            if name in ("mse", "mae", "rmse"):
                metric.update((predictions[rows], targets[rows]))
            elif name == "average":
                metric.update(scores[rows])  # N vectors of 4, averaged feature by feature
            else:
                metric.update((scores[rows], labels[rows]))


def computed(metrics: dict[str, Metric]) -> dict[str, Any]:
    values = {name: metric.compute() for name, metric in metrics.items()}
    return {name: value.tolist() if isinstance(value, torch.Tensor) else value for name, value in values.items()}


def save_mid_run(local_rank: int) -> dict[str, Any]:
    """The metrics' states after the first batches (as torch.save bytes), and the uninterrupted values."""
    batches = shard_batches(local_rank)
    metrics = resumable_metrics()
    feed_resumable(metrics, batches[:BATCHES_BEFORE_CHECKPOINT])
    saved = {name: metric.state_dict() for name, metric in metrics.items()}  # a collective: every rank calls it
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    uninterrupted = resumable_metrics()
    feed_resumable(uninterrupted, batches)
    return {
        "checkpoint": buffer.getvalue(),
        "loss_state": saved["loss"],
        "uninterrupted": computed(uninterrupted),
    }


def resume_from(local_rank: int, checkpoint: bytes) -> dict[str, Any]:
    """Fresh metrics loaded from rank 0's checkpoint, fed the rank's remaining batches, computed."""
    saved = torch.load(io.BytesIO(checkpoint), weights_only=True)
    metrics = resumable_metrics()
    for name, metric in metrics.items():
        metric.load_state_dict(saved[name])
    feed_resumable(metrics, shard_batches(local_rank)[BATCHES_BEFORE_CHECKPOINT:])
    return computed(metrics)
