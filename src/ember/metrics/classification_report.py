"""Per-class precision, recall and F-beta with macro averages, as JSON or a dict (ignite's classification_report)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch

from ember.metrics.classification import Fbeta, Precision, Recall
from ember.metrics.metric import MetricsLambda

__all__ = ["ClassificationReport"]

_RESULT_MODES = ("flatten", "named", "both")


def ClassificationReport(
    beta: int = 1,
    output_dict: bool = False,
    output_transform: Callable[[Any], Any] | None = None,
    device: str | torch.device = "cpu",
    is_multilabel: bool = False,
    labels: list[str] | None = None,
    metrics_result_mode: str = "both",
) -> MetricsLambda:
    """A metric whose value reports each class's precision, recall and F-beta, and their macro averages.

    The value maps each class's label (``labels[i]``, or ``"0"``, ``"1"`` ...) and ``"macro avg"``
    to ``{"precision": p, "recall": r, "f<beta>-score": f}``; it is a JSON string unless
    ``output_dict=True``. Inputs are those of :class:`~ember.metrics.Precision` (scores ``(N, C)``
    with labels ``(N,)``, or 0/1 ``(N, C)`` with ``is_multilabel=True``). Attached with
    ``output_dict=True``, ``metrics_result_mode`` says where the dict goes (see
    :class:`~ember.metrics.Metric`).

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> ClassificationReport(output_dict=True, labels=["cat", "dog"]).attach(evaluator, "report")
    >>> y_pred = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    >>> report = evaluator.run([(y_pred, torch.tensor([0, 1, 0, 0]))]).metrics["report"]
    >>> round(report["cat"]["recall"], 4), report["dog"]["precision"], sorted(report)
    (0.6667, 0.5, ['cat', 'dog', 'macro avg'])
    """
    if metrics_result_mode not in _RESULT_MODES:
        raise ValueError(
            f"ClassificationReport metrics_result_mode must be one of {list(_RESULT_MODES)}, got "
            f"{metrics_result_mode!r}."
        )
    if labels is not None and not all(isinstance(label, str) for label in labels):
        raise TypeError(f"ClassificationReport labels must be a list of strings, got {labels!r}.")
    precision = Precision(average=False, is_multilabel=is_multilabel, output_transform=output_transform, device=device)
    recall = Recall(average=False, is_multilabel=is_multilabel, output_transform=output_transform, device=device)
    fbeta = Fbeta(beta, average=False, precision=precision, recall=recall)

    def report(
        per_class_recall: torch.Tensor,
        per_class_precision: torch.Tensor,
        per_class_fbeta: torch.Tensor,
        mean_recall: torch.Tensor,
        mean_precision: torch.Tensor,
        mean_fbeta: torch.Tensor,
    ) -> str | dict[str, dict[str, float]]:
        score = f"f{beta}-score"
        classes = per_class_precision.reshape(-1)
        if labels is not None and len(labels) < len(classes):
            raise ValueError(
                f"ClassificationReport got {len(labels)} labels for {len(classes)} classes. Give one label per class."
            )
        rows: dict[str, dict[str, float]] = {}
        for index in range(len(classes)):
            rows[labels[index] if labels else str(index)] = {
                "precision": float(classes[index]),
                "recall": float(per_class_recall.reshape(-1)[index]),
                score: float(per_class_fbeta.reshape(-1)[index]),
            }
        rows["macro avg"] = {"precision": float(mean_precision), "recall": float(mean_recall), score: float(mean_fbeta)}
        return rows if output_dict else json.dumps(rows)

    metric = MetricsLambda(report, recall, precision, fbeta, recall.mean(), precision.mean(), fbeta.mean())
    metric._metrics_result_mode = metrics_result_mode
    return metric
