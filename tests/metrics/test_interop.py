"""torchmetrics metrics used as ember metrics, and ember.metrics importing without torchmetrics."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch
import torchmetrics
from torch import nn

from ember.engine import Engine, create_supervised_evaluator
from ember.metrics import (
    Accuracy,
    MeanSquaredError,
    MetricsLambda,
    NotComputableError,
    RunningAverage,
    TorchmetricsMetric,
    as_metric,
    attach,
    is_torchmetrics_metric,
)

generator = torch.Generator().manual_seed(1)
BATCHES = [(torch.randn(6, 4, generator=generator), torch.randint(0, 4, (6,), generator=generator)) for _ in range(4)]


def test_as_metric_returns_an_ember_metric_unchanged_and_wraps_torchmetrics() -> None:
    accuracy = Accuracy()
    assert as_metric(accuracy) is accuracy
    wrapped = as_metric(torchmetrics.MeanSquaredError())
    assert isinstance(wrapped, TorchmetricsMetric)
    assert is_torchmetrics_metric(wrapped.metric)
    assert not is_torchmetrics_metric(accuracy)


@pytest.mark.parametrize("value", [3, "accuracy", torch.nn.MSELoss()])
def test_as_metric_rejects_other_objects(value: Any) -> None:
    with pytest.raises(
        TypeError, match=f"Expected an ember.metrics.Metric or a torchmetrics.Metric, got {type(value).__name__}"
    ):
        as_metric(value)


def test_torchmetrics_wrapper_rejects_non_torchmetrics() -> None:
    with pytest.raises(TypeError, match=r"TorchmetricsMetric wraps a torchmetrics.Metric, got Accuracy"):
        TorchmetricsMetric(Accuracy())


def test_attached_torchmetrics_metric_gives_the_ember_value() -> None:
    engine = Engine(lambda engine, batch: batch)
    Accuracy().attach(engine, "ember")
    attach(torchmetrics.classification.MulticlassAccuracy(num_classes=4, average="micro"), engine, "torchmetrics")
    metrics = engine.run(BATCHES, max_epochs=2).metrics
    assert metrics["torchmetrics"] == pytest.approx(metrics["ember"], abs=1e-6)


def test_mapping_and_single_outputs_reach_torchmetrics_update() -> None:
    mean = TorchmetricsMetric(torchmetrics.MeanMetric())
    mean.update(torch.tensor([1.0, 2.0]))
    mean.update({"value": torch.tensor(6.0)})
    assert mean.compute() == pytest.approx(3.0)


def test_compute_before_update_raises_not_computable() -> None:
    wrapped = as_metric(torchmetrics.MeanAbsoluteError())
    with pytest.raises(
        NotComputableError, match=r"TorchmetricsMetric\(MeanAbsoluteError\) must have at least one update"
    ):
        wrapped.compute()


def test_evaluator_accepts_a_wrapped_torchmetrics_metric() -> None:
    model = nn.Linear(4, 4)
    evaluator = create_supervised_evaluator(
        model,
        metrics={
            "ember": Accuracy(),
            "tm": as_metric(torchmetrics.classification.MulticlassAccuracy(num_classes=4, average="micro")),
        },
    )
    metrics = evaluator.run([(x, y) for x, y in BATCHES]).metrics
    assert metrics["tm"] == pytest.approx(metrics["ember"], abs=1e-6)


def test_torchmetrics_in_arithmetic_and_running_average() -> None:
    ember_mse = MeanSquaredError()
    difference = MetricsLambda(lambda a, b: a - b, torchmetrics.MeanSquaredError(), ember_mse)
    running = RunningAverage(torchmetrics.MeanSquaredError(), alpha=0.5)
    for y_pred, y in [(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])), (torch.tensor([3.0]), torch.tensor([0.0]))]:
        difference.update((y_pred, y))
        running.update((y_pred, y))
    assert difference.compute() == pytest.approx(0.0, abs=1e-6)
    assert running.compute() == pytest.approx(0.5 * 2.5 + 0.5 * 9.0)


def test_torchmetrics_state_round_trips_through_state_dict() -> None:
    first = as_metric(torchmetrics.classification.MulticlassAccuracy(num_classes=4, average="micro"))
    for batch in BATCHES[:2]:
        first.update(batch)
    saved = first.state_dict()
    second = as_metric(torchmetrics.classification.MulticlassAccuracy(num_classes=4, average="micro"))
    second.load_state_dict(saved)
    for metric in (first, second):
        for batch in BATCHES[2:]:
            metric.update(batch)
    assert second.compute() == pytest.approx(first.compute())
    with pytest.raises(ValueError, match=r"got states \['x'\], but MulticlassAccuracy has \['fn', 'fp', 'tn', 'tp'\]"):
        second.load_state_dict({"states": {"x": torch.zeros(1)}, "_updates": 1})
    with pytest.raises(KeyError, match="needs a dict with keys 'states' and '_updates'"):
        second.load_state_dict({"tp": 1})


def test_ember_metrics_imports_and_works_without_torchmetrics() -> None:
    """With torchmetrics unimportable, ember.metrics still imports and its metrics run."""
    script = (
        "import sys\n"
        "sys.modules['torchmetrics'] = None\n"
        "import torch\n"
        "from ember.metrics import Accuracy, as_metric\n"
        "metric = as_metric(Accuracy())\n"
        "metric.update((torch.tensor([[0.0, 1.0]]), torch.tensor([1])))\n"
        "assert metric.compute() == 1.0\n"
        "try:\n"
        "    as_metric(object())\n"
        "except TypeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('as_metric accepted an object')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
