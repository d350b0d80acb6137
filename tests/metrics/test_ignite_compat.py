"""ignite's spellings of the metrics, and inputs that must never give a plausible wrong number.

Expected values come from scikit-learn or from ignite's documented formulas, never from ember.
Where ignite 0.5.5 raises on an input (probabilities read as binary labels, one-hot targets with
scores, multiclass labels read as binary), ember raises too, with its own message.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import ember.metrics
from ember.engine import Engine, Events, create_supervised_evaluator
from ember.exceptions import NotComputableError
from ember.metrics import (
    Accuracy,
    Average,
    BatchFiltered,
    ConfusionMatrix,
    DiceCoefficient,
    EpochMetric,
    EpochMetricWarning,
    Fbeta,
    GeometricAverage,
    IoU,
    Loss,
    Metric,
    MetricsLambda,
    Precision,
    Recall,
    RunningAverage,
    TopKCategoricalAccuracy,
    VariableAccumulation,
    cmAccuracy,
    cmPrecision,
    cmRecall,
    mIoU,
)
from ember.metrics.metric import reinit__is_reduced, sync_all_reduce

EXAMPLES = settings(max_examples=30, deadline=None)


def feed(metric: Any, *batches: Any) -> Any:
    metric.reset()
    for batch in batches:
        metric.update(batch)
    return metric.compute()


def close(value: Any, expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64), atol=1e-9)


# -- silent wrong values -----------------------------------------------------------------------------


def test_an_n_by_1_prediction_of_0_1_with_class_index_targets_is_binary() -> None:
    """ignite reads (N, 1) predictions with (N,) targets as binary; every prediction here is right."""
    y_pred = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    y = torch.tensor([0, 1, 1, 0])
    assert feed(Accuracy(), (y_pred, y)) == 1.0
    assert feed(Precision(), (y_pred, y)) == skm.precision_score(y.numpy(), y_pred.squeeze(1).numpy())


PROBABILITIES = (torch.tensor([0.2, 0.8, 0.7, 0.1]), torch.tensor([0, 1, 1, 0]))
LOGITS = (torch.tensor([-2.0, 3.0, 1.0, -1.0]), torch.tensor([0, 1, 1, 0]))


@pytest.mark.parametrize(
    "metric",
    [Accuracy(), Precision(), Recall(), Fbeta(), ConfusionMatrix(2), Accuracy(task="binary")],
    ids=lambda metric: type(metric).__name__,
)
@pytest.mark.parametrize("output", [PROBABILITIES, LOGITS], ids=["probabilities", "logits"])
def test_binary_scores_without_a_threshold_are_an_error(metric: Any, output: Any) -> None:
    name = type(metric).__name__
    with pytest.raises(
        ValueError,
        match=rf"{name} reads y_pred \(4,\) and y \(4,\) as binary inputs, so y_pred must hold only 0 and 1, but it "
        r"holds values from .* Pass threshold=0.5 if y_pred holds probabilities, threshold=0.0 if it holds logits",
    ):
        metric.update(output)


@pytest.mark.parametrize("threshold", [0.5, 0.0, 0.75])
def test_a_threshold_says_how_to_read_scores(threshold: float) -> None:
    for scores, y in (PROBABILITIES, LOGITS):
        predicted = (scores >= threshold).long().numpy()
        close(feed(Accuracy(threshold=threshold), (scores, y)), skm.accuracy_score(y.numpy(), predicted))
        close(feed(Recall(threshold=threshold), (scores, y)), skm.recall_score(y.numpy(), predicted, zero_division=0))
        close(
            feed(ConfusionMatrix(2, threshold=threshold), (scores, y)),
            skm.confusion_matrix(y.numpy(), predicted, labels=[0, 1]),
        )


def test_one_hot_targets_with_class_scores_are_an_error_that_says_so() -> None:
    scores = torch.randn(4, 3)
    one_hot = torch.eye(3)[[0, 1, 2, 0]].long()
    for metric in (Accuracy(), Precision(), Recall()):
        with pytest.raises(ValueError, match=r"y looks one-hot: .* pass the class indices y.argmax\(dim=1\)"):
            metric.update((scores, one_hot))
    with pytest.raises(ValueError, match=r"TopKCategoricalAccuracy expects scores y_pred \(N, C\) and labels y \(N,\)"):
        TopKCategoricalAccuracy(k=2).update((scores, one_hot))


def test_one_hot_predictions_against_one_hot_targets_are_scored_element_wise_as_ignite_does() -> None:
    """0/1 predictions of y's shape are binary inputs, every element counts (ignite's reading)."""
    y_pred = torch.tensor([[1, 0, 0], [0, 1, 0]])
    y = torch.tensor([[1, 0, 0], [0, 0, 1]])
    assert feed(Accuracy(), (y_pred, y)) == pytest.approx(skm.accuracy_score(y.reshape(-1), y_pred.reshape(-1)))


def test_class_labels_of_the_same_shape_need_task_multiclass() -> None:
    labels = (torch.tensor([0, 2, 1, 0]), torch.tensor([0, 2, 2, 0]))
    with pytest.raises(ValueError, match="so y must hold only 0 and 1, but it holds values from 0 to 2"):
        Accuracy().update(labels)
    assert feed(Accuracy(task="multiclass"), labels) == skm.accuracy_score(labels[1], labels[0])


def test_a_linear_model_with_one_output_fails_the_evaluation_instead_of_reporting_a_number() -> None:
    """create_supervised_evaluator(nn.Linear(4, 1), metrics={"acc": Accuracy()}): logits are not labels."""
    torch.manual_seed(0)
    evaluator = create_supervised_evaluator(torch.nn.Linear(4, 1), metrics={"acc": Accuracy()})
    data = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))]
    with pytest.raises(ValueError, match=r"Accuracy reads y_pred \(8, 1\) and y \(8,\) as binary inputs"):
        evaluator.run(data)


def test_multilabel_scores_need_a_threshold() -> None:
    scores, targets = torch.rand(4, 3), torch.randint(0, 2, (4, 3))
    with pytest.raises(ValueError, match=r"task='multilabel'\), so y_pred must hold only 0 and 1"):
        Accuracy(is_multilabel=True).update((scores, targets))
    predicted = (scores >= 0.5).long()
    assert feed(Accuracy(is_multilabel=True, threshold=0.5), (scores, targets)) == skm.accuracy_score(
        targets, predicted
    )


def test_labels_must_be_whole_numbers_but_may_be_floats() -> None:
    scores = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    assert feed(Accuracy(), (scores, torch.tensor([0.0, 1.0, 1.0]))) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="Accuracy expects labels y of whole numbers"):
        Accuracy().update((scores, torch.tensor([0.0, 1.5, 1.0])))


# -- Precision / Recall / Fbeta in ignite's spelling --------------------------------------------------


def multilabel(data: st.DataObject) -> tuple[torch.Tensor, torch.Tensor]:
    size = data.draw(st.integers(1, 30))
    labels = data.draw(st.integers(2, 5))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    return torch.randint(0, 2, (size, labels), generator=generator), torch.randint(
        0, 2, (size, labels), generator=generator
    )


@pytest.mark.parametrize(
    ("metric_class", "reference", "options"),
    [
        (Precision, skm.precision_score, {}),
        (Recall, skm.recall_score, {}),
        (Fbeta, skm.fbeta_score, {"beta": 1.0}),
        (Fbeta, skm.fbeta_score, {"beta": 2.0}),
    ],
)
@EXAMPLES
@given(data=st.data())
def test_samples_average_matches_sklearn(
    metric_class: Any, reference: Any, options: dict[str, Any], data: st.DataObject
) -> None:
    y_pred, y = multilabel(data)
    expected = reference(y.numpy(), y_pred.numpy(), average="samples", zero_division=0, **options)
    close(feed(metric_class(average="samples", is_multilabel=True, **options), (y_pred, y)), expected)


def test_samples_average_is_for_multilabel_inputs_only() -> None:
    with pytest.raises(ValueError, match="average='samples' averages over the samples of multilabel inputs"):
        Precision(average="samples").update((torch.randn(4, 3), torch.tensor([0, 1, 2, 0])))
    with pytest.raises(ValueError, match=r"average='samples' .* but task='multiclass'"):
        Recall(average="samples", task="multiclass")


@EXAMPLES
@given(data=st.data())
def test_ignite_averages_false_and_true(data: st.DataObject) -> None:
    """average=False: per-class values as tensors (0-d for binary); True: the macro mean."""
    size = data.draw(st.integers(1, 40))
    classes = data.draw(st.integers(2, 5))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    scores, labels = (
        torch.randn(size, classes, generator=generator),
        torch.randint(0, classes, (size,), generator=generator),
    )
    predicted = scores.argmax(1).numpy()
    every = list(range(classes))
    for metric_class, reference in ((Precision, skm.precision_score), (Recall, skm.recall_score)):
        per_class = feed(metric_class(average=False), (scores, labels))
        assert isinstance(per_class, torch.Tensor)
        close(per_class, reference(labels, predicted, labels=every, average=None, zero_division=0))
        close(
            feed(metric_class(average=True), (scores, labels)),
            reference(labels, predicted, labels=every, average="macro", zero_division=0),
        )
    binary_pred, binary_y = (
        torch.randint(0, 2, (size,), generator=generator),
        torch.randint(0, 2, (size,), generator=generator),
    )
    value = feed(Precision(average=False), (binary_pred, binary_y))
    assert isinstance(value, torch.Tensor) and value.dim() == 0
    close(value, skm.precision_score(binary_y, binary_pred, zero_division=0))


@EXAMPLES
@given(data=st.data())
def test_fbeta_default_and_from_precision_and_recall_match_ignites_formula(data: st.DataObject) -> None:
    """ignite's Fbeta: the mean over classes of (1 + b²)PR / (b²P + R); the positive class for binary inputs."""
    size = data.draw(st.integers(1, 40))
    classes = data.draw(st.integers(2, 5))
    beta = data.draw(st.sampled_from([0.5, 1.0, 2.0]))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    scores, labels = (
        torch.randn(size, classes, generator=generator),
        torch.randint(0, classes, (size,), generator=generator),
    )
    per_class = skm.fbeta_score(
        labels, scores.argmax(1), beta=beta, labels=list(range(classes)), average=None, zero_division=0
    )
    close(feed(Fbeta(beta), (scores, labels)), per_class.mean())
    combined = Fbeta(beta, precision=Precision(average=False), recall=Recall(average=False))
    close(feed(combined, (scores, labels)), per_class.mean())
    close(feed(Fbeta(beta, average=False, precision=Precision(average=False)), (scores, labels)), per_class)
    binary_pred, binary_y = (
        torch.randint(0, 2, (size,), generator=generator),
        torch.randint(0, 2, (size,), generator=generator),
    )
    close(
        feed(Fbeta(beta), (binary_pred, binary_y)), skm.fbeta_score(binary_y, binary_pred, beta=beta, zero_division=0)
    )


def test_fbeta_from_metrics_needs_per_class_values() -> None:
    with pytest.raises(ValueError, match=r"Fbeta precision= needs a Precision with average=False .* got average=True"):
        Fbeta(1.0, precision=Precision(average=True))
    with pytest.raises(TypeError, match="Fbeta recall= takes a Recall, got Precision"):
        Fbeta(1.0, recall=Precision(average=False))  # type: ignore[arg-type]


def test_the_readme_f1_idiom_works_attached_with_tensor_methods_on_the_result() -> None:
    """ignite's F1: (precision * recall * 2 / (precision + recall + 1e-20)).mean() with average=False."""
    precision, recall = Precision(average=False), Recall(average=False)
    f1 = (precision * recall * 2 / (precision + recall + 1e-20)).mean()
    assert isinstance(f1, MetricsLambda)
    engine = Engine(lambda engine, batch: batch)
    f1.attach(engine, "f1")
    precision[0].attach(engine, "precision_0")
    MetricsLambda(lambda value: value.item(), recall.max()).attach(engine, "best_recall")
    scores = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0], [2.0, 0, 0]])
    labels = torch.tensor([0, 1, 1, 2])
    metrics = engine.run([(scores, labels)]).metrics
    predicted = scores.argmax(1)
    assert metrics["f1"] == pytest.approx(skm.f1_score(labels, predicted, average="macro", zero_division=0))
    assert metrics["precision_0"] == pytest.approx(skm.precision_score(labels, predicted, average=None)[0])
    assert metrics["best_recall"] == 1.0
    assert isinstance(metrics["f1"], float)  # a 0-dimensional result is stored as a number, as ignite does


def test_a_metric_has_no_attribute_that_tensors_lack() -> None:
    with pytest.raises(AttributeError, match="'Accuracy' object has no attribute 'not_a_tensor_method'"):
        Accuracy().not_a_tensor_method  # noqa: B018


# -- ConfusionMatrix and its scores ---------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_confusion_matrix_average_and_its_scores_match_sklearn(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 50))
    classes = data.draw(st.integers(2, 5))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    scores, labels = (
        torch.randn(size, classes, generator=generator),
        torch.randint(0, classes, (size,), generator=generator),
    )
    predicted, every = scores.argmax(1).numpy(), list(range(classes))
    for average, normalize in (("samples", "all"), ("recall", "true"), ("precision", "pred")):
        # With one label per sample, ignite's "samples" (divided by N) is scikit-learn's "all".
        expected = skm.confusion_matrix(labels, predicted, labels=every, normalize=normalize)
        close(feed(ConfusionMatrix(classes, average=average), (scores, labels)), expected)
    cm = ConfusionMatrix(classes)
    options = {"labels": every, "zero_division": 0}
    iou = skm.jaccard_score(labels, predicted, average=None, **options)
    close(feed(IoU(cm), (scores, labels)), iou)
    close(feed(mIoU(cm), (scores, labels)), iou.mean())
    close(feed(IoU(cm, ignore_index=0), (scores, labels)), iou[1:])
    close(feed(DiceCoefficient(cm), (scores, labels)), skm.f1_score(labels, predicted, average=None, **options))
    close(feed(cmAccuracy(cm), (scores, labels)), skm.accuracy_score(labels, predicted))
    close(feed(cmPrecision(cm), (scores, labels)), skm.precision_score(labels, predicted, average="macro", **options))
    close(
        feed(cmRecall(cm, average=False), (scores, labels)),
        skm.recall_score(labels, predicted, average=None, **options),
    )


def test_confusion_matrix_samples_average_divides_by_the_number_of_samples() -> None:
    """ignite's average="samples" for segmentation: counts over pixels divided by the number of images N."""
    scores = torch.randn(4, 3, 5, 5)
    labels = torch.randint(0, 3, (4, 5, 5))
    expected = skm.confusion_matrix(labels.reshape(-1), scores.argmax(1).reshape(-1), labels=[0, 1, 2]) / 4
    close(feed(ConfusionMatrix(3, average="samples"), (scores[:1], labels[:1]), (scores[1:], labels[1:])), expected)


def test_confusion_matrix_spellings_are_checked() -> None:
    with pytest.raises(ValueError, match="ConfusionMatrix average must be None, 'samples', 'recall' or 'precision'"):
        ConfusionMatrix(3, average="true")
    with pytest.raises(ValueError, match="average='recall' and normalize='pred', which disagree"):
        ConfusionMatrix(3, average="recall", normalize="pred")
    with pytest.raises(ValueError, match=r"IoU ignore_index must be a class index from 0 to 2, or None, got 3"):
        IoU(ConfusionMatrix(3), ignore_index=3)
    with pytest.raises(NotComputableError):
        mIoU(ConfusionMatrix(3)).compute()


# -- Loss with dict outputs, averages, running averages ----------------------------------------------------

SCORES = torch.tensor([[2.0, 0.5], [0.1, 0.3], [1.0, 3.0]], dtype=torch.float64)
LABELS = torch.tensor([0, 0, 1])


def test_dict_outputs_give_their_required_keys() -> None:
    expected_loss = skm.log_loss(LABELS, SCORES.softmax(1), labels=[0, 1])
    engine = Engine(lambda engine, batch: {"y_pred": batch[0], "y": batch[1], "extra": 1})
    Loss(F.cross_entropy).attach(engine, "loss")
    Accuracy().attach(engine, "accuracy")
    metrics = engine.run([(SCORES, LABELS)]).metrics
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert metrics["accuracy"] == skm.accuracy_score(LABELS, SCORES.argmax(1))

    weighted = Engine(
        lambda engine, batch: {"y_pred": batch[0], "y": batch[1], "criterion_kwargs": {"reduction": "sum"}}
    )
    Loss(F.cross_entropy).attach(weighted, "loss")
    # A batch-summed loss, weighted by the batch size of 3: ignite's Loss does not divide it again.
    assert weighted.run([(SCORES, LABELS)]).metrics["loss"] == pytest.approx(3 * expected_loss, rel=1e-6)


def test_a_dict_output_without_the_keys_fails_with_the_keys_it_needs() -> None:
    engine = Engine(lambda engine, batch: {"pred": batch[0], "y": batch[1]})
    Accuracy().attach(engine, "accuracy")
    with pytest.raises(ValueError, match=r"Accuracy got a dict output with keys \['pred', 'y'\], but needs the keys"):
        engine.run([(SCORES, LABELS)])


def test_lists_of_per_sample_values_are_unrolled_unless_skip_unrolling() -> None:
    """ignite's unrolling: ([y_pred_1, ...], [y_1, ...]) updates once per sample."""
    engine = Engine(lambda engine, batch: batch)
    Accuracy().attach(engine, "accuracy")
    samples = ([SCORES[0], SCORES[1], SCORES[2]], [LABELS[0], LABELS[1], LABELS[2]])
    assert engine.run([samples]).metrics["accuracy"] == skm.accuracy_score(LABELS, SCORES.argmax(1))

    tuple_output = Engine(lambda engine, batch: batch)
    Loss(lambda y_pred, y: F.mse_loss(y_pred[0], y[0]) + F.mse_loss(y_pred[1], y[1]), skip_unrolling=True).attach(
        tuple_output, "loss"
    )
    pair = ((torch.ones(2), torch.zeros(2)), (torch.zeros(2), torch.zeros(2)))
    assert tuple_output.run([pair]).metrics["loss"] == 1.0


@EXAMPLES
@given(data=st.data())
def test_average_and_geometric_average_of_vectors_are_per_feature(data: st.DataObject) -> None:
    """ignite's reading: a (N, F) tensor holds N vectors, a 1-d tensor is one vector."""
    rows = data.draw(st.integers(1, 10))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    batch = torch.rand(rows, 3, generator=generator) + 0.1
    single = torch.rand(3, generator=generator) + 0.1
    everything = torch.cat([batch, single.unsqueeze(0)]).double().numpy()
    close(feed(Average(), batch, single), everything.mean(axis=0))
    close(feed(GeometricAverage(), batch, single), np.exp(np.log(everything).mean(axis=0)))


def test_variable_accumulation_returns_the_accumulator_and_the_count() -> None:
    def add_rows(accumulator: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return accumulator + (value.sum(dim=0) if value.dim() > 1 else value)

    accumulation = VariableAccumulation(add_rows)
    accumulator, count = feed(accumulation, torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([5.0, 6.0]))
    assert accumulator.tolist() == [9.0, 12.0] and count == 3


def run_running_average(**options: Any) -> list[tuple[int, float]]:
    engine = Engine(lambda engine, batch: batch)
    RunningAverage(Accuracy(), alpha=0.5, **options).attach(engine, "running")
    seen: list[tuple[int, float]] = []
    engine.add_event_handler(
        Events.ITERATION_COMPLETED, lambda engine: seen.append((engine.state.epoch, engine.state.metrics["running"]))
    )
    scores = torch.tensor([[1.0, 0.0]])
    engine.run([(scores, torch.tensor([0])), (scores, torch.tensor([1])), (scores, torch.tensor([1]))], max_epochs=2)
    return seen


def test_running_average_epoch_bound_restarts_each_epoch() -> None:
    """Batch accuracies 1, 0, 0 each epoch; value_t = 0.5 value_(t-1) + 0.5 x_t, value_1 = x_1."""
    assert run_running_average(epoch_bound=True) == [(1, 1.0), (1, 0.5), (1, 0.25), (2, 1.0), (2, 0.5), (2, 0.25)]
    expected, value = [], None
    for epoch in (1, 2):
        for accuracy in (1.0, 0.0, 0.0):
            value = accuracy if value is None else 0.5 * value + 0.5 * accuracy
            expected.append((epoch, value))
    assert run_running_average() == expected


def test_running_average_of_a_source_per_epoch_follows_the_epoch_values() -> None:
    """ignite's usage=RunningEpochWise() with src: the average moves once per epoch, to src's epoch value."""
    engine = Engine(lambda engine, batch: batch)
    running = RunningAverage(Accuracy(), alpha=0.5)
    running.attach(engine, "running", usage=ember.metrics.RunningEpochWise())
    seen: list[float] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: seen.append(engine.state.metrics["running"]))
    scores = torch.tensor([[1.0, 0.0]])
    hits = [1, 0, 0, 0]  # batch accuracies: epoch values 1/2 and 0, then 1/2 again
    data = [(scores, torch.tensor([1 - hit])) for hit in hits]
    engine.run(data, max_epochs=3, epoch_length=2)
    assert seen == pytest.approx([0.5, 0.5 * 0.5 + 0.5 * 0.0, 0.25 * 0.5 + 0.5 * 0.5])
    running.detach(engine, usage="running_epoch_wise")
    assert not running.is_attached(engine, usage="running_epoch_wise")


# -- usages as ignite names them ------------------------------------------------------------------------------

USAGES = [
    ("epoch_wise", [None, None, None, ("epoch", 3.0), 3.0, 3.0, 3.0, ("epoch", 3.0)]),
    ("running_epoch_wise", [None, None, None, ("epoch", 6.0), 6.0, 6.0, 6.0, ("epoch", 6.0)]),
    ("batch_wise", [1.0, 2.0, 6.0, ("epoch", 6.0), 1.0, 2.0, 6.0, ("epoch", 6.0)]),
    ("running_batch_wise", [1.0, 1.5, 3.0, ("epoch", 3.0), 2.5, 2.4, 3.0, ("epoch", 3.0)]),
    ("single_epoch_running_batch_wise", [1.0, 1.5, 3.0, ("epoch", 3.0), 1.0, 1.5, 3.0, ("epoch", 3.0)]),
    (BatchFiltered(every=2), [None, None, None, ("epoch", 2.0), 2.0, 2.0, 2.0, ("epoch", 3.5)]),
]


@pytest.mark.parametrize(("usage", "expected"), USAGES, ids=[str(usage) for usage, _ in USAGES])
def test_usages_publish_as_ignite_documents(usage: Any, expected: list[Any]) -> None:
    """Average of 1, 2, 6 over two epochs; what a handler sees after each iteration and each epoch."""
    engine = Engine(lambda engine, batch: batch)
    Average().attach(engine, "mean", usage=usage)
    seen: list[Any] = []
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: seen.append(engine.state.metrics.get("mean")))
    engine.add_event_handler(
        Events.EPOCH_COMPLETED, lambda engine: seen.append(("epoch", engine.state.metrics["mean"]))
    )
    engine.run([1.0, 2.0, 6.0], max_epochs=2)
    assert seen == expected


@pytest.mark.parametrize(
    ("usage_class", "name", "base"),
    [
        (ember.metrics.EpochWise, "epoch_wise", ember.metrics.MetricUsage),
        (ember.metrics.RunningEpochWise, "running_epoch_wise", ember.metrics.EpochWise),
        (ember.metrics.BatchWise, "batch_wise", ember.metrics.MetricUsage),
        (ember.metrics.RunningBatchWise, "running_batch_wise", ember.metrics.BatchWise),
        (ember.metrics.SingleEpochRunningBatchWise, "single_epoch_running_batch_wise", ember.metrics.BatchWise),
    ],
)
def test_usage_names_are_class_attributes_as_in_ignite(usage_class: Any, name: str, base: type) -> None:
    """ignite code reads BatchWise.usage_name from the class, without an instance; the hierarchy is ignite's."""
    assert usage_class.usage_name == name and usage_class().usage_name == name
    assert issubclass(usage_class, base)
    engine = Engine(lambda engine, batch: batch)
    metric = Average()
    metric.attach(engine, "mean", usage=usage_class.usage_name)
    assert metric.is_attached(engine, usage=usage_class.usage_name)
    assert metric.is_attached(engine, usage=usage_class())


def test_metric_usage_takes_ignites_arguments_and_embers() -> None:
    ignite_form = ember.metrics.MetricUsage(
        started=Events.EPOCH_STARTED, completed=Events.EPOCH_COMPLETED, iteration_completed=Events.ITERATION_COMPLETED
    )
    positional = ember.metrics.MetricUsage(Events.EPOCH_STARTED, Events.EPOCH_COMPLETED, Events.ITERATION_COMPLETED)
    ember_form = ember.metrics.MetricUsage(
        "mine", Events.EPOCH_STARTED, Events.ITERATION_COMPLETED, Events.EPOCH_COMPLETED
    )
    for usage in (ignite_form, positional, ember_form):
        assert (usage.STARTED, usage.ITERATION_COMPLETED, usage.COMPLETED) == (
            Events.EPOCH_STARTED,
            Events.ITERATION_COMPLETED,
            Events.EPOCH_COMPLETED,
        )
    assert ember_form.usage_name == "mine"
    with pytest.raises(TypeError, match="missing \\['iteration_completed'\\]"):
        ember.metrics.MetricUsage(Events.EPOCH_STARTED, Events.EPOCH_COMPLETED)


def test_usage_objects_have_ignites_attribute_names() -> None:
    usage = ember.metrics.RunningEpochWise()
    assert usage.usage_name == "running_epoch_wise"
    assert (usage.STARTED, usage.ITERATION_COMPLETED, usage.COMPLETED) == (
        Events.STARTED,
        Events.EPOCH_COMPLETED,
        Events.EPOCH_COMPLETED,
    )


# -- module paths ----------------------------------------------------------------------------------------------

MODULES = {
    "accuracy": ["Accuracy"],
    "precision": ["Precision"],
    "recall": ["Recall"],
    "fbeta": ["Fbeta"],
    "confusion_matrix": ["ConfusionMatrix", "IoU", "mIoU", "DiceCoefficient", "cmAccuracy", "cmPrecision", "cmRecall"],
    "loss": ["Loss"],
    "running_average": ["RunningAverage"],
    "accumulation": ["Average", "GeometricAverage", "VariableAccumulation"],
    "top_k_categorical_accuracy": ["TopKCategoricalAccuracy"],
    "mean_squared_error": ["MeanSquaredError"],
    "mean_absolute_error": ["MeanAbsoluteError"],
    "root_mean_squared_error": ["RootMeanSquaredError"],
    "metrics_lambda": ["MetricsLambda"],
    "epoch_metric": ["EpochMetric", "EpochMetricWarning"],
    "metric": ["Metric", "EpochWise", "RunningEpochWise", "BatchWise", "RunningBatchWise", "BatchFiltered"],
}


@pytest.mark.parametrize(("module", "names"), MODULES.items())
def test_ignites_module_paths_import_the_same_objects(module: str, names: list[str]) -> None:
    imported = importlib.import_module(f"ember.metrics.{module}")
    for name in names:
        assert getattr(imported, name) is getattr(ember.metrics, name)


def test_not_computable_error_lives_in_ember_exceptions() -> None:
    assert ember.metrics.NotComputableError is NotComputableError
    assert issubclass(NotComputableError, RuntimeError)
    with pytest.raises(NotComputableError, match="must have at least one update"):
        Precision().compute()


def test_ignite_positional_signatures() -> None:
    """ignite's positional order: Accuracy(output_transform, is_multilabel, device), and so on."""

    def pick(output: Any) -> Any:
        return output["y_pred"], output["y"]

    accuracy = Accuracy(pick, True, "cpu")
    assert accuracy.task == "multilabel" and accuracy.output_transform is pick
    precision = Precision(pick, "weighted", False, "cpu")
    assert precision.average == "weighted"
    assert ConfusionMatrix(3, "recall", pick, "cpu").normalize == "true"
    assert TopKCategoricalAccuracy(3, pick, "cpu").k == 3
    assert RunningAverage(None, 0.9, pick, True, "cpu").default_usage == "running"
    assert math.isclose(Fbeta(0.5, False).beta, 0.5)


# -- the custom-metric protocol of ignite's docs -----------------------------------------------------------------


class MaskedMeanError(Metric):
    """A custom metric in ignite's style: state set in reset(), decorated methods, its own output keys."""

    required_output_keys = ("y_pred", "y", "mask")

    def __init__(self, output_transform: Any = lambda x: x, device: str = "cpu") -> None:
        self._error_sum: torch.Tensor | None = None
        self._count: int | None = None
        super().__init__(output_transform=output_transform, device=device)

    @reinit__is_reduced
    def reset(self) -> None:
        self._error_sum = torch.tensor(0.0, device=self._device)
        self._count = 0
        super().reset()

    @reinit__is_reduced
    def update(self, output: Any) -> None:
        y_pred, y, mask = output
        self._error_sum += ((y_pred - y).abs() * mask).sum().to(self._device)
        self._count += int(mask.sum())

    @sync_all_reduce("_count", "_error_sum:SUM")
    def compute(self) -> float:
        if not self._count:
            raise NotComputableError("MaskedMeanError needs at least one unmasked value.")
        return float(self._error_sum) / self._count


def test_a_metric_written_from_ignites_docs_attaches_and_detaches() -> None:
    def step(engine: Engine, batch: Any) -> dict[str, torch.Tensor]:
        y_pred, y, mask = batch
        return {"y_pred": y_pred, "y": y, "mask": mask, "loss": torch.tensor(0.0)}

    engine = Engine(step)
    metric = MaskedMeanError()
    assert metric._device == torch.device("cpu")
    metric.attach(engine, "error")
    assert metric.is_attached(engine) and not metric.is_attached(engine, usage="batch_wise")
    data = [
        (torch.tensor([1.0, 5.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])),
        (torch.tensor([2.0]), torch.tensor([4.0]), torch.tensor([1.0])),
    ]
    assert engine.run(data).metrics["error"] == pytest.approx((1.0 + 2.0) / 2)
    with pytest.raises(NotComputableError, match="needs at least one unmasked value"):
        MaskedMeanError().compute()
    metric.detach(engine)
    assert not metric.is_attached(engine)
    engine.state.metrics.clear()  # a new run keeps the last run's values, as in ignite
    assert "error" not in engine.run(data).metrics


def test_sync_all_reduce_rejects_an_unknown_operation() -> None:
    with pytest.raises(ValueError, match=r"sync_all_reduce got '_total:MEAN', whose operation 'MEAN' is not one of"):
        sync_all_reduce("_total:MEAN")


# -- EpochMetric ---------------------------------------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_epoch_metric_applies_its_function_to_the_whole_epoch(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, 40))
    generator = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31)))
    scores = torch.rand(size, generator=generator)
    labels = torch.cat([torch.tensor([0, 1]), torch.randint(0, 2, (size - 2,), generator=generator)])
    auc = EpochMetric(lambda y_preds, ys: skm.roc_auc_score(ys.numpy(), y_preds.numpy()), check_compute_fn=False)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, size - 1), max_size=4))))
    batches = list(zip(scores.tensor_split(cuts), labels.tensor_split(cuts)))
    assert feed(auc, *batches) == pytest.approx(skm.roc_auc_score(labels.numpy(), scores.numpy()))


def test_epoch_metric_reads_n_by_1_as_n_and_checks_shapes() -> None:
    collected = EpochMetric(lambda y_preds, ys: (y_preds.shape, ys.shape))
    assert feed(collected, (torch.rand(3, 1), torch.ones(3, 1)), (torch.rand(2), torch.ones(2))) == (
        torch.Size([5]),
        torch.Size([5]),
    )
    with pytest.raises(
        ValueError, match=r"EpochMetric expects y_pred of shape \(N,\) or \(N, C\), got shape \(2, 3, 4\)"
    ):
        EpochMetric(len).update((torch.rand(2, 3, 4), torch.ones(2)))
    with pytest.raises(NotComputableError, match="EpochMetric must have at least one update"):
        EpochMetric(len).compute()


def test_epoch_metric_warns_when_its_function_fails_on_the_first_batch() -> None:
    def needs_two_classes(y_preds: torch.Tensor, ys: torch.Tensor) -> float:
        if len(ys.unique()) < 2:
            raise ValueError("only one class present")
        return float(skm.roc_auc_score(ys.numpy(), y_preds.numpy()))

    auc = EpochMetric(needs_two_classes)
    with pytest.warns(EpochMetricWarning, match="compute_fn failed on the first batch with ValueError: only one class"):
        auc.update((torch.tensor([0.2, 0.4]), torch.tensor([1, 1])))
    auc.update((torch.tensor([0.3]), torch.tensor([0])))
    assert auc.compute() == skm.roc_auc_score([1, 1, 0], [0.2, 0.4, 0.3])


def test_epoch_metric_attached_resets_each_epoch() -> None:
    engine = Engine(lambda engine, batch: batch)
    EpochMetric(lambda y_preds, ys: len(ys)).attach(engine, "rows")
    seen: list[int] = []
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: seen.append(engine.state.metrics["rows"]))
    engine.run([(torch.rand(2), torch.ones(2)), (torch.rand(3), torch.ones(3))], max_epochs=2)
    assert seen == [5, 5]


class MinMax(Metric):
    """A metric whose value is a dict, to show where each result mode stores it."""

    def __init__(self, metrics_result_mode: str = "both") -> None:
        super().__init__(metrics_result_mode=metrics_result_mode)
        self.add_state("low", torch.tensor(float("inf")), reduction="min")
        self.add_state("high", torch.tensor(float("-inf")), reduction="max")

    def update(self, output: Any) -> None:
        self.low = torch.minimum(self.low, torch.as_tensor(output).min())
        self.high = torch.maximum(self.high, torch.as_tensor(output).max())

    def compute_from(self, state: Any) -> dict[str, float]:
        return {"low": float(state["low"]), "high": float(state["high"])}


@pytest.mark.parametrize(
    ("mode", "keys"),
    [("both", {"low", "high", "range"}), ("flatten", {"low", "high"}), ("named", {"range"})],
)
def test_metrics_result_mode_says_where_a_dict_value_goes(mode: str, keys: set[str]) -> None:
    engine = Engine(lambda engine, batch: batch)
    MinMax(metrics_result_mode=mode).attach(engine, "range")
    metrics = engine.run([3.0, -1.0, 2.0]).metrics
    assert set(metrics) == keys
    assert metrics.get("low", metrics.get("range", {}).get("low")) == -1.0


def test_metrics_result_mode_is_checked() -> None:
    with pytest.raises(ValueError, match=r"MinMax metrics_result_mode must be one of \['flatten', 'named', 'both'\]"):
        MinMax(metrics_result_mode="nested")
