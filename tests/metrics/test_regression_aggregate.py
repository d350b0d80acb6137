"""Regression and averaging metrics against scikit-learn / numpy references, and their input errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from ember.metrics import Average, Loss, MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, RunningAverage

EXAMPLES = settings(max_examples=40, deadline=None)


def feed(metric: Any, batches: list[Any]) -> Any:
    metric.reset()
    for batch in batches:
        metric.update(batch)
    return metric.compute()


@pytest.mark.parametrize(
    ("metric_class", "reference"),
    [
        (MeanSquaredError, lambda y, p: skm.mean_squared_error(y, p, multioutput="raw_values").sum()),
        (MeanAbsoluteError, lambda y, p: skm.mean_absolute_error(y, p, multioutput="raw_values").sum()),
        (RootMeanSquaredError, lambda y, p: math.sqrt(skm.mean_squared_error(y, p, multioutput="raw_values").sum())),
    ],
)
@EXAMPLES
@given(data=st.data())
def test_regression_metrics_match_ignites_definition(
    metric_class: Any, reference: Any, data: st.DataObject, draws: Any
) -> None:
    """ignite's definition: errors summed over each example's outputs, divided by the number of examples N.

    scikit-learn's per-output means (each a sum over N divided by N), summed over the outputs, are that value.
    """
    size = data.draw(st.integers(1, 60))
    outputs = data.draw(st.sampled_from([(), (3,), (2, 2)]))
    generator = draws.generator(data.draw(st.integers(0, 2**31)))
    y_pred = torch.randn(size, *outputs, generator=generator) * 10
    y = torch.randn(size, *outputs, generator=generator)
    expected = reference(y.reshape(size, -1).numpy(), y_pred.reshape(size, -1).numpy())
    value = feed(metric_class(), draws.split((y_pred, y), data.draw(draws.cuts(size))))
    assert value == pytest.approx(expected, rel=1e-6)


def test_multi_output_mse_is_the_per_example_sum_over_examples() -> None:
    """A worked example of ignite's formula: two examples with errors (1, 2) and (3, 4)."""
    mse, mae = MeanSquaredError(), MeanAbsoluteError()
    for metric in (mse, mae):
        metric.update((torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.zeros(2, 2)))
    assert mse.compute() == pytest.approx((1 + 4 + 9 + 16) / 2)
    assert mae.compute() == pytest.approx((1 + 2 + 3 + 4) / 2)


@EXAMPLES
@given(data=st.data())
def test_cross_entropy_loss_is_sklearn_log_loss(data: st.DataObject, draws: Any) -> None:
    size = data.draw(st.integers(1, 60))
    classes = data.draw(st.integers(2, 5))
    generator = draws.generator(data.draw(st.integers(0, 2**31)))
    logits = torch.randn(size, classes, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (size,), generator=generator)
    expected = skm.log_loss(labels.numpy(), logits.softmax(1).numpy(), labels=list(range(classes)))
    # Unique cuts: an empty batch has no mean loss.
    cuts = sorted(set(data.draw(draws.cuts(size))) - {0, size})
    value = feed(Loss(F.cross_entropy), draws.split((logits, labels), cuts))
    # The sum is float32, as ignite's (the float64 losses are rounded into it).
    assert value == pytest.approx(expected, rel=1e-6)


def test_loss_passes_keyword_arguments_and_uses_batch_size() -> None:
    loss = Loss(F.cross_entropy, batch_size=lambda y: 10)
    weight = torch.tensor([1.0, 3.0])
    loss.update((torch.tensor([[0.0, 0.0]]), torch.tensor([1]), {"weight": weight}))
    loss.update((torch.tensor([[0.0, 0.0]]), torch.tensor([1]), {"weight": weight}))
    assert loss.compute() == pytest.approx(math.log(2))
    assert int(loss.count) == 20


@EXAMPLES
@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=30),
    as_tensors=st.booleans(),
)
def test_average_of_numbers_is_the_mean(values: list[float], as_tensors: bool) -> None:
    batches = [torch.tensor(value, dtype=torch.float64) if as_tensors else value for value in values]
    assert feed(Average(), batches) == pytest.approx(float(np.mean(values)), abs=1e-9)


@EXAMPLES
@given(data=st.data())
def test_average_of_row_batches_is_the_column_mean(data: st.DataObject, draws: Any) -> None:
    size = data.draw(st.integers(1, 40))
    rows = torch.randn(size, 3, generator=draws.generator(data.draw(st.integers(0, 2**31))))
    cuts = sorted(set(data.draw(draws.cuts(size))) - {0, size})
    value = feed(Average(), [batch for (batch,) in draws.split((rows,), cuts)])
    np.testing.assert_allclose(value.numpy(), rows.double().mean(0).numpy(), atol=1e-12)


@EXAMPLES
@given(
    values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=30),
    alpha=st.floats(0.01, 0.99),
)
def test_running_average_follows_the_reference_recurrence(values: list[float], alpha: float) -> None:
    expected = values[0]
    for value in values[1:]:
        expected = alpha * expected + (1 - alpha) * value
    assert feed(RunningAverage(alpha=alpha), values) == pytest.approx(expected, abs=1e-9)


def test_running_average_of_a_metric_averages_its_per_batch_values() -> None:
    from ember.metrics import Accuracy

    running = RunningAverage(Accuracy(), alpha=0.5)
    running.update((torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([0, 0])))  # batch accuracy 1.0
    running.update((torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([1, 0])))  # batch accuracy 0.5
    assert running.compute() == pytest.approx(0.75)


def test_running_average_of_a_metric_leaves_that_metric_attached_by_itself_intact() -> None:
    from ember.engine import Engine
    from ember.metrics import Accuracy

    accuracy = Accuracy()
    engine = Engine(lambda engine, batch: batch)
    accuracy.attach(engine, "accuracy")
    RunningAverage(accuracy, alpha=0.5).attach(engine, "running_accuracy")
    scores = torch.tensor([[1.0, 0.0]])
    data = [(scores, torch.tensor([0])), (scores, torch.tensor([1])), (scores, torch.tensor([1]))]
    metrics = engine.run(data).metrics
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # batch accuracies 1, 0, 0
    assert metrics["running_accuracy"] == pytest.approx((1.0 * 0.5 + 0.0 * 0.5) * 0.5 + 0.0 * 0.5)


def test_a_one_output_models_column_pairs_with_its_targets() -> None:
    """(N, 1) predictions against (N,) targets (and the other way round) pair the same N values, as in ignite."""
    for y_pred, y in (
        (torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 4.0])),
        (torch.tensor([1.0, 2.0]), torch.tensor([[1.0], [4.0]])),
    ):
        mse = MeanSquaredError()
        mse.update((y_pred, y))
        assert mse.compute() == 2.0


BAD_INPUTS = [
    (MeanSquaredError(), (torch.zeros(2, 3), torch.zeros(3, 2)), ValueError,
     r"MeanSquaredError expects y_pred and y of the same shape, got y_pred \(2, 3\) and y \(3, 2\)"),
    (MeanAbsoluteError(), (1.0, 2.0), TypeError, "MeanAbsoluteError expects y_pred and y to be tensors, got float"),
    (RootMeanSquaredError(), (torch.zeros(1),), ValueError, r"expects output .* pair \(y_pred, y\), got a tuple of 1 items"),
    (Loss(F.mse_loss), (torch.zeros(2), torch.zeros(2), 3), TypeError, "third item of .* dict of keyword arguments .* got int"),
    (Loss(lambda p, y: (p - y) ** 2), (torch.zeros(2), torch.zeros(2)), ValueError,
     r"Loss expects loss_fn to return a 0-dimensional tensor .* got a tensor of shape \(2,\)"),
    (Average(), "1.0", TypeError, "Average expects a number or a tensor, got str"),
    (RunningAverage(), [1.0], TypeError, "RunningAverage expects a number or a tensor, got list"),
]  # fmt: skip


@pytest.mark.parametrize(("metric", "output", "error", "match"), BAD_INPUTS)
def test_bad_inputs_are_explained(metric: Any, output: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        metric.update(output)


def test_average_rejects_a_change_of_value_shape() -> None:
    average = Average()
    average.update(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"Average got values of shape \(4,\) .* after values of shape \(3,\)"):
        average.update(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"Average got a single number after values of shape \(3,\)"):
        average.update(1.0)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (
            lambda: RunningAverage(alpha=1.5),
            ValueError,
            r"alpha must be a number in \(0, 1\], got alpha=1.5",
        ),
        (
            lambda: RunningAverage(src=3),
            TypeError,
            "Expected an ember.metrics.Metric or a torchmetrics.Metric, got int",
        ),
        (
            lambda: RunningAverage(MeanSquaredError(), output_transform=lambda o: o),
            ValueError,
            "RunningAverage got both src and output_transform",
        ),
        (lambda: Loss("mse"), TypeError, "Loss needs a callable loss_fn"),
        (lambda: RunningAverage(alpha="0.5"), TypeError, r"alpha must be a number .* got '0.5' \(str\)"),
        (
            lambda: Loss(F.mse_loss, batch_size=16),
            TypeError,
            r"Loss batch_size must be a callable \(y\) -> int, got 16",
        ),
    ],
)
def test_bad_arguments_are_rejected(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_loss_keeps_no_autograd_graph() -> None:
    """Loss computes its value without recording gradients, even for inputs that require them."""
    import torch as _torch

    from ember.metrics import Loss as _Loss

    seen: list[bool] = []

    def loss_fn(y_pred: _torch.Tensor, y: _torch.Tensor) -> _torch.Tensor:
        value = ((y_pred - y) ** 2).mean()
        seen.append(value.requires_grad)
        return value

    metric = _Loss(loss_fn)
    metric.update((_torch.ones(4, requires_grad=True), _torch.zeros(4)))
    assert seen == [False]
    assert float(metric.compute()) == 1.0
