"""Updates per second of ember's Accuracy and ConfusionMatrix against torchmetrics, in one process.

Each update is one batch of 256 x 100 logits with 256 labels (CPU, or ``--device cuda``). The rows:

- ``bare torch ops``: the tensor operations an update needs, with no metric object around them (the
  ceiling any metric can reach);
- ``ember``: :class:`ember.metrics.Accuracy` / :class:`ember.metrics.ConfusionMatrix`;
- ``torchmetrics``: ``MulticlassAccuracy(average="micro")`` / ``MulticlassConfusionMatrix`` with their
  default ``validate_args=True``, and again with ``validate_args=False`` (its fastest setting).

Each figure is the best of several repetitions (the least disturbed run); the rows take turns within
each repetition, so a change in the machine's load affects them alike. The last column is the
rate relative to torchmetrics with its defaults, measured in the same run; the script also checks
that both libraries computed the same values.

    python benchmarks/metrics_throughput.py [--updates N] [--repeats R] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from ember.metrics import Accuracy, ConfusionMatrix

BATCH, CLASSES = 256, 100


def best_rates(
    updates: dict[Any, Callable[[torch.Tensor, torch.Tensor], Any]], batches: list[Any], repeats: int, sync: Any
) -> dict[Any, float]:
    """The best updates-per-second of each update function over ``repeats`` passes over ``batches``.

    The functions take turns within each repetition, so that a change in the machine's load
    (other processes) hits every row alike instead of whichever row was running at the time.
    """
    best = dict.fromkeys(updates, float("inf"))
    for _ in range(repeats):
        for key, update in updates.items():
            sync()
            start = time.perf_counter()
            for logits, labels in batches:
                update(logits, labels)
            sync()
            best[key] = min(best[key], time.perf_counter() - start)
    return {key: len(batches) / seconds for key, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000, help="updates per repetition")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions; the best is kept")
    parser.add_argument("--device", default="cpu")
    options = parser.parse_args()
    device = torch.device(options.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    import torchmetrics.classification as tmc

    generator = torch.Generator().manual_seed(0)
    # A few distinct batches, reused, so the measurement is of the update and not of data creation.
    distinct = [
        (
            torch.randn(BATCH, CLASSES, generator=generator).to(device),
            torch.randint(0, CLASSES, (BATCH,), generator=generator).to(device),
        )
        for _ in range(16)
    ]
    batches = [distinct[i % len(distinct)] for i in range(options.updates)]

    correct = torch.zeros((), dtype=torch.int64, device=device)
    matrix = torch.zeros(CLASSES * CLASSES, dtype=torch.int64, device=device)

    def bare_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> None:
        correct.add_((logits.argmax(dim=1) == labels).sum())

    def bare_confusion(logits: torch.Tensor, labels: torch.Tensor) -> None:
        matrix.add_(torch.bincount(labels * CLASSES + logits.argmax(dim=1), minlength=CLASSES * CLASSES))

    ember_accuracy = Accuracy(device=device)
    ember_confusion = ConfusionMatrix(CLASSES, device=device)
    tm = {
        "accuracy": tmc.MulticlassAccuracy(num_classes=CLASSES, average="micro").to(device),
        "accuracy_fast": tmc.MulticlassAccuracy(num_classes=CLASSES, average="micro", validate_args=False).to(device),
        "confusion": tmc.MulticlassConfusionMatrix(num_classes=CLASSES).to(device),
        "confusion_fast": tmc.MulticlassConfusionMatrix(num_classes=CLASSES, validate_args=False).to(device),
    }

    rows = [
        ("Accuracy", "bare torch ops", bare_accuracy),
        ("Accuracy", "ember", lambda p, y: ember_accuracy.update((p, y))),
        ("Accuracy", "torchmetrics", tm["accuracy"].update),
        ("Accuracy", "torchmetrics (validate_args=False)", tm["accuracy_fast"].update),
        ("ConfusionMatrix", "bare torch ops", bare_confusion),
        ("ConfusionMatrix", "ember", lambda p, y: ember_confusion.update((p, y))),
        ("ConfusionMatrix", "torchmetrics", tm["confusion"].update),
        ("ConfusionMatrix", "torchmetrics (validate_args=False)", tm["confusion_fast"].update),
    ]
    rates = best_rates({(metric, name): update for metric, name, update in rows}, batches, options.repeats, sync)

    # Both libraries saw the same batches the same number of times: their values must agree.
    tm_accuracy = float(tm["accuracy"].compute())
    if abs(ember_accuracy.compute() - tm_accuracy) > 1e-6:
        raise SystemExit(f"Accuracy differs: ember {ember_accuracy.compute()} vs torchmetrics {tm_accuracy}")
    if not torch.equal(ember_confusion.compute(), tm["confusion"].compute().to(torch.int64)):
        raise SystemExit("ConfusionMatrix differs between ember and torchmetrics")

    print(
        f"{BATCH}x{CLASSES} logits, {options.updates} updates x best of {options.repeats}, device {device}, "
        f"torch {torch.__version__}"
    )
    print(f"{'metric':<16} {'implementation':<36} {'updates/s':>11} {'vs torchmetrics':>16}")
    for metric, name, _ in rows:
        ratio = rates[(metric, name)] / rates[(metric, "torchmetrics")]
        print(f"{metric:<16} {name:<36} {rates[(metric, name)]:>11,.0f} {ratio:>15.2f}x")


if __name__ == "__main__":
    main()
