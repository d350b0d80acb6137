"""Metrics refuse wrong callables and keywords when built, give advice that fits them, and hold no state twice."""

from __future__ import annotations

from typing import Any

import ignite.metrics
import pytest
import torch

from ember.metrics import Accuracy, ConfusionMatrix, Loss, Precision


def test_an_output_transform_that_cannot_take_the_output_fails_when_built() -> None:
    """ignite accepts it and fails with a bare TypeError at the first event; ember refuses it at once."""
    with pytest.raises(TypeError, match=r"Accuracy output_transform <lambda> cannot be called as output_transform\("):
        Accuracy(output_transform=lambda y_pred, y: (y_pred, y))
    ignite.metrics.Accuracy(output_transform=lambda y_pred, y: (y_pred, y))  # ignite: no error until used
    Accuracy(output_transform=lambda output, scale=1.0: output)  # extra parameters with defaults are fine


@pytest.mark.parametrize(
    ("build", "wrong", "right"),
    [
        (lambda: Accuracy(treshold=0.5), "treshold", "threshold"),
        (lambda: ConfusionMatrix(num_class=3), "num_class", "num_classes"),
        (lambda: Loss(torch.nn.functional.mse_loss, batch_size_fn=len), "batch_size_fn", "batch_size"),
        (lambda: Precision(averages=True), "averages", "average"),
    ],
)
def test_a_misspelt_keyword_names_the_closest_parameter(build: Any, wrong: str, right: str) -> None:
    """ignite raises Python's bare TypeError for these; ember's names the parameter meant."""
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{wrong}'. Did you mean {right}=\.\.\.\?"):
        build()


def test_a_change_in_the_number_of_classes_gives_advice_the_metric_can_take() -> None:
    """Accuracy has no num_classes parameter: its message must not advise one (it did)."""
    accuracy = Accuracy()
    accuracy.update((torch.randn(4, 3), torch.tensor([0, 1, 2, 0])))
    with pytest.raises(ValueError, match="expects 3 classes") as caught:
        accuracy.update((torch.randn(4, 5), torch.tensor([0, 1, 2, 0])))
    assert "num_classes" not in str(caught.value)
    assert "call reset() before inputs with another number" in str(caught.value)
    precision = Precision()
    precision.update((torch.randn(4, 3), torch.tensor([0, 1, 2, 0])))
    with pytest.raises(ValueError, match=r"Pass num_classes=<the number of classes>"):
        precision.update((torch.randn(4, 5), torch.tensor([0, 1, 2, 0])))


def held_bytes(metric: Any) -> int:
    """Bytes of the distinct tensor storages a metric's attributes (and dicts of them) refer to."""
    storages: dict[int, int] = {}

    def visit(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for value in vars(metric).values():
        visit(value)
    return sum(storages.values())


def test_confusion_matrix_holds_one_matrix_as_ignite_does() -> None:
    """ConfusionMatrix kept a full copy of its zero matrix for reset(): twice ignite's memory."""
    classes = 1000
    ours, theirs = ConfusionMatrix(classes), ignite.metrics.ConfusionMatrix(classes)
    matrix_bytes = classes * classes * 8
    assert held_bytes(theirs) >= matrix_bytes
    assert held_bytes(ours) <= held_bytes(theirs) + 1024
    y_pred, y = torch.randn(64, classes), torch.randint(0, classes, (64,))
    for metric in (ours, theirs):
        metric.update((y_pred, y))
    assert torch.equal(ours.compute(), theirs.compute())
    ours.reset()
    assert held_bytes(ours) <= held_bytes(theirs) + 1024
    ours.update((y_pred[:1], y[:1]))
    assert int(ours.compute().sum()) == 1  # reset() gave a zero matrix again


def test_the_split_modules_keep_every_import_path() -> None:
    """metric.py and classification.py were split in modules of one job each; their names import as before."""
    import importlib

    import ember.metrics

    paths = {
        "ember.metrics.metric": [
            "Metric", "MetricsLambda", "MetricUsage", "EpochWise", "RunningEpochWise", "BatchWise", "RunningBatchWise",
            "SingleEpochRunningBatchWise", "BatchFiltered", "reinit__is_reduced", "sync_all_reduce",
            "NotComputableError", "_describe_value",
        ],
        "ember.metrics.classification": [
            "Accuracy", "ConfusionMatrix", "DiceCoefficient", "Fbeta", "IoU", "JaccardIndex", "Precision", "Recall",
            "TopKCategoricalAccuracy", "cmAccuracy", "cmPrecision", "cmRecall", "mIoU",
        ],
        "ember.metrics.accuracy": ["Accuracy"],
        "ember.metrics.confusion_matrix": ["ConfusionMatrix", "IoU", "mIoU", "cmAccuracy", "cmPrecision", "cmRecall"],
        "ember.metrics.metrics_lambda": ["MetricsLambda"],
        "ember.metrics.top_k_categorical_accuracy": ["TopKCategoricalAccuracy"],
    }  # fmt: skip
    for path, names in paths.items():
        module = importlib.import_module(path)
        for name in names:
            value = getattr(module, name)
            assert value is getattr(ember.metrics, name, value) and callable(value), f"{path}.{name}"
