"""Classification metrics against scikit-learn on random data, in random batch splits, and their input errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from ember.metrics import Accuracy, ConfusionMatrix, Fbeta, Precision, Recall, TopKCategoricalAccuracy

EXAMPLES = settings(max_examples=40, deadline=None)
AVERAGES = [None, "micro", "macro", "weighted"]


def feed(metric: Any, batches: list[tuple[torch.Tensor, ...]]) -> Any:
    metric.reset()
    for batch in batches:
        metric.update(batch)
    return metric.compute()


def close(value: Any, expected: Any) -> None:
    np.testing.assert_allclose(np.asarray(value, dtype=np.float64), np.asarray(expected, dtype=np.float64), atol=1e-9)


def multiclass_data(data: st.DataObject, draws: Any) -> tuple[torch.Tensor, torch.Tensor, int, list[int]]:
    size = data.draw(st.integers(1, 60), label="size")
    classes = data.draw(st.integers(2, 6), label="classes")
    generator = draws.generator(data.draw(st.integers(0, 2**31), label="seed"))
    scores = torch.randn(size, classes, generator=generator)
    labels = torch.randint(0, classes, (size,), generator=generator)
    return scores, labels, classes, data.draw(draws.cuts(size), label="cuts")


def binary_data(data: st.DataObject, draws: Any) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    size = data.draw(st.integers(1, 60), label="size")
    generator = draws.generator(data.draw(st.integers(0, 2**31), label="seed"))
    probabilities = torch.rand(size, generator=generator)
    labels = torch.randint(0, 2, (size,), generator=generator)
    return probabilities, labels, data.draw(draws.cuts(size), label="cuts")


def multilabel_data(data: st.DataObject, draws: Any) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    size = data.draw(st.integers(1, 40), label="size")
    labels_count = data.draw(st.integers(2, 5), label="labels")
    generator = draws.generator(data.draw(st.integers(0, 2**31), label="seed"))
    probabilities = torch.rand(size, labels_count, generator=generator)
    targets = torch.randint(0, 2, (size, labels_count), generator=generator)
    return probabilities, targets, data.draw(draws.cuts(size), label="cuts")


# -- accuracy ------------------------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_accuracy_multiclass_scores_and_labels_match_sklearn(data: st.DataObject, draws: Any) -> None:
    scores, labels, _, cuts = multiclass_data(data, draws)
    expected = skm.accuracy_score(labels.numpy(), scores.argmax(1).numpy())
    close(feed(Accuracy(), draws.split((scores, labels), cuts)), expected)
    predicted = scores.argmax(1)
    close(feed(Accuracy(task="multiclass"), draws.split((predicted, labels), cuts)), expected)


@EXAMPLES
@given(data=st.data())
def test_accuracy_binary_matches_sklearn(data: st.DataObject, draws: Any) -> None:
    probabilities, labels, cuts = binary_data(data, draws)
    threshold = data.draw(st.sampled_from([0.3, 0.5, 0.8]), label="threshold")
    expected = skm.accuracy_score(labels.numpy(), (probabilities >= threshold).long().numpy())
    close(feed(Accuracy(threshold=threshold), draws.split((probabilities, labels), cuts)), expected)
    close(feed(Accuracy(task="binary"), draws.split((labels.bool(), labels), cuts)), 1.0)


@EXAMPLES
@given(data=st.data())
def test_accuracy_multilabel_is_sklearn_subset_accuracy(data: st.DataObject, draws: Any) -> None:
    probabilities, targets, cuts = multilabel_data(data, draws)
    expected = skm.accuracy_score(targets.numpy(), (probabilities >= 0.5).long().numpy())
    close(feed(Accuracy(task="multilabel", threshold=0.5), draws.split((probabilities, targets), cuts)), expected)


# -- precision, recall, F-beta ---------------------------------------------------------------------

SCORES = [
    (Precision, skm.precision_score, {}),
    (Recall, skm.recall_score, {}),
    (Fbeta, skm.fbeta_score, {"beta": 1.0}),
    (Fbeta, skm.fbeta_score, {"beta": 0.5}),
    (Fbeta, skm.fbeta_score, {"beta": 2.0}),
]


@pytest.mark.parametrize(("metric_class", "reference", "options"), SCORES)
@EXAMPLES
@given(data=st.data())
def test_class_scores_multiclass_match_sklearn(
    metric_class: Any, reference: Any, options: dict[str, Any], data: st.DataObject, draws: Any
) -> None:
    scores, labels, classes, cuts = multiclass_data(data, draws)
    average = data.draw(st.sampled_from(AVERAGES), label="average")
    predicted = scores.argmax(1)
    expected = reference(
        labels.numpy(), predicted.numpy(), labels=list(range(classes)), average=average, zero_division=0, **options
    )
    close(feed(metric_class(average=average, **options), draws.split((scores, labels), cuts)), expected)
    from_labels = metric_class(average=average, task="multiclass", num_classes=classes, **options)
    close(feed(from_labels, draws.split((predicted, labels), cuts)), expected)


@pytest.mark.parametrize(("metric_class", "reference", "options"), SCORES)
@EXAMPLES
@given(data=st.data())
def test_class_scores_binary_match_sklearn(
    metric_class: Any, reference: Any, options: dict[str, Any], data: st.DataObject, draws: Any
) -> None:
    """average=False is sklearn's average='binary' (so is None for Fbeta, as ignite's); None gives both classes
    (sklearn's average=None); the averages cover both classes, as sklearn's do."""
    probabilities, labels, cuts = binary_data(data, draws)
    average = data.draw(st.sampled_from([False, *AVERAGES]), label="average")
    predicted = (probabilities >= 0.5).long().numpy()
    if average is False or (average is None and metric_class is Fbeta):
        expected = reference(labels.numpy(), predicted, average="binary", zero_division=0, **options)
    else:
        expected = reference(labels.numpy(), predicted, labels=[0, 1], average=average, zero_division=0, **options)
    close(
        feed(metric_class(average=average, threshold=0.5, **options), draws.split((probabilities, labels), cuts)),
        expected,
    )


@pytest.mark.parametrize(("metric_class", "reference", "options"), SCORES)
@EXAMPLES
@given(data=st.data())
def test_class_scores_multilabel_match_sklearn(
    metric_class: Any, reference: Any, options: dict[str, Any], data: st.DataObject, draws: Any
) -> None:
    probabilities, targets, cuts = multilabel_data(data, draws)
    average = data.draw(st.sampled_from(AVERAGES), label="average")
    predicted = (probabilities >= 0.5).long().numpy()
    expected = reference(targets.numpy(), predicted, average=average, zero_division=0, **options)
    metric = metric_class(average=average, task="multilabel", threshold=0.5, **options)
    close(feed(metric, draws.split((probabilities, targets), cuts)), expected)


# -- confusion matrix, top-k -------------------------------------------------------------------------


@EXAMPLES
@given(data=st.data())
def test_confusion_matrix_matches_sklearn(data: st.DataObject, draws: Any) -> None:
    scores, labels, classes, cuts = multiclass_data(data, draws)
    normalize = data.draw(st.sampled_from([None, "true", "pred", "all"]), label="normalize")
    expected = skm.confusion_matrix(
        labels.numpy(), scores.argmax(1).numpy(), labels=list(range(classes)), normalize=normalize
    )
    value = feed(ConfusionMatrix(classes, normalize=normalize), draws.split((scores, labels), cuts))
    assert value.shape == (classes, classes)
    close(value, expected)
    labels_only = ConfusionMatrix(classes, normalize=normalize, task="multiclass")
    close(feed(labels_only, draws.split((scores.argmax(1), labels), cuts)), expected)


@EXAMPLES
@given(data=st.data())
def test_binary_confusion_matrix_matches_sklearn(data: st.DataObject, draws: Any) -> None:
    probabilities, labels, cuts = binary_data(data, draws)
    expected = skm.confusion_matrix(labels.numpy(), (probabilities >= 0.5).long().numpy(), labels=[0, 1])
    close(feed(ConfusionMatrix(2, threshold=0.5), draws.split((probabilities, labels), cuts)), expected)


@EXAMPLES
@given(data=st.data())
def test_top_k_accuracy_matches_sklearn(data: st.DataObject, draws: Any) -> None:
    size = data.draw(st.integers(1, 60))
    classes = data.draw(st.integers(3, 8))
    k = data.draw(st.integers(1, classes - 1))
    generator = draws.generator(data.draw(st.integers(0, 2**31)))
    scores = torch.randn(size, classes, generator=generator)
    labels = torch.randint(0, classes, (size,), generator=generator)
    expected = skm.top_k_accuracy_score(labels.numpy(), scores.numpy(), k=k, labels=list(range(classes)))
    cuts = data.draw(draws.cuts(size))
    close(feed(TopKCategoricalAccuracy(k=k), draws.split((scores, labels), cuts)), expected)


def test_per_class_values_are_float64_tensors() -> None:
    recall = Recall(task="multiclass", num_classes=3)
    recall.update((torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])))
    value = recall.compute()
    assert value.dtype == torch.float64
    assert value.tolist() == [1.0, 1.0, 0.5]


def test_a_class_never_predicted_counts_as_zero_precision() -> None:
    precision = Precision(average="macro", task="multiclass", num_classes=3)
    precision.update((torch.tensor([0, 0]), torch.tensor([0, 1])))
    assert precision.compute() == pytest.approx((0.5 + 0 + 0) / 3)


# -- bad input -------------------------------------------------------------------------------------


def test_confusion_matrix_leaves_out_targets_outside_its_classes() -> None:
    """As ignite documents: a void label (255) or a negative one does not count, in any row."""
    matrix = ConfusionMatrix(3)
    scores = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [0.0, 2.0, 0.0]])
    matrix.update((scores, torch.tensor([0, 255, 2, -1])))
    assert matrix.compute().tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]


BAD_INPUTS = [
    (Accuracy(), (torch.randn(4, 3), torch.randint(0, 3, (4, 4))), ValueError,
     r"Accuracy got y_pred of shape \(4, 3\) and y of shape \(4, 4\), which do not fit"),
    (Accuracy(), (torch.randn(4, 3), torch.randint(0, 2, (4, 4))[:, :1].squeeze(1).repeat(2)), ValueError,
     r"Accuracy got multiclass scores y_pred \(4, 3\) with labels y \(8,\); expected y of shape \(4,\)"),
    (Accuracy(task="binary"), (torch.randn(4, 3), torch.randint(0, 3, (4,))), ValueError,
     r"Accuracy with task='binary' expects y_pred of the same shape as y, got multiclass scores y_pred \(4, 3\)"),
    (Accuracy(task="multilabel"), (torch.rand(4, 3), torch.randint(0, 2, (4, 4))), ValueError,
     r"task='multilabel' expects y_pred and y of the same shape \(N, C, ...\), got y_pred \(4, 3\) and y \(4, 4\)"),
    (Accuracy(), (torch.randn(4, 3), torch.rand(4) + 0.1), ValueError,
     r"Accuracy expects labels y of whole numbers, got a torch.float32 tensor of shape \(4,\) with fractional values"),
    (Accuracy(), [1, 2], TypeError, "Accuracy expects y_pred and y to be tensors, got int and int"),
    (Accuracy(), (torch.randn(4, 3), torch.zeros(4).long(), torch.ones(1)), ValueError,
     r"Accuracy expects output \(after output_transform\) to be a pair \(y_pred, y\), got a tuple of 3 items"),
    (Accuracy(), torch.zeros(3), ValueError, r"to be a pair \(y_pred, y\), got a tensor of shape \(3,\)"),
    (Accuracy(task="multiclass"), (torch.rand(4), torch.zeros(4).long()), TypeError,
     "task='multiclass' and y_pred of y's shape .* expects integer class labels, got torch.float32"),
    (Precision(task="multiclass"), (torch.zeros(4).long(), torch.zeros(4).long()), ValueError,
     r"Precision got class labels y_pred \(4,\) without knowing the number of classes. Pass num_classes"),
    (Precision(num_classes=3), (torch.tensor([0, 2, 1]), torch.tensor([0, 1, 2])), ValueError,
     r"Precision reads y_pred \(3,\) and y \(3,\) as binary inputs, so y must hold only 0 and 1, "
     r"but it holds values from 0 to 2. For class labels pass scores of shape \(N, C\), or labels with task='multiclass'"),
    (Recall(task="multiclass", num_classes=3), (torch.tensor([0, 5]), torch.tensor([0, 1])), ValueError,
     "Recall got predicted labels up to 5, but has 3 classes"),
    (Recall(task="multiclass", num_classes=3), (torch.tensor([0, 3]), torch.tensor([0, 1])), ValueError,
     r"Recall got predicted labels up to 3, but has 3 classes \(labels 0 to 2\)"),
    (Fbeta(task="multiclass", num_classes=3), (torch.tensor([0, 1]), torch.tensor([0, 3])), ValueError,
     r"Fbeta got labels y up to 3, but has 3 classes"),
    (Precision(), (torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1])), ValueError,
     r"Precision reads y_pred \(3,\) and y \(3,\) as binary inputs, so y_pred must hold only 0 and 1, but it holds "
     "values from 0 to 2. For class labels pass task='multiclass'"),
    (ConfusionMatrix(3), (torch.randn(4, 4), torch.zeros(4).long()), ValueError,
     r"ConfusionMatrix expects 3 classes, but y_pred of shape \(4, 4\) has 4"),
    (ConfusionMatrix(3), (torch.randint(0, 2, (4,)), torch.zeros(4).long()), ValueError,
     r"ConfusionMatrix with num_classes=3 got binary inputs"),
    (ConfusionMatrix(3, task="multiclass"), (torch.tensor([0, 7]), torch.tensor([0, 1])), ValueError,
     "ConfusionMatrix has 3 classes .* but got a predicted label y_pred outside them"),
    (ConfusionMatrix(3, task="multiclass"), (torch.tensor([3]), torch.tensor([0])), ValueError,
     "ConfusionMatrix has 3 classes .* but got a predicted label y_pred outside them"),
    (TopKCategoricalAccuracy(k=3), (torch.randn(4, 2), torch.zeros(4).long()), ValueError,
     r"TopKCategoricalAccuracy with k=3 needs at least 3 classes, got y_pred \(4, 2\)"),
    (TopKCategoricalAccuracy(), (torch.randn(4), torch.zeros(4).long()), ValueError,
     r"TopKCategoricalAccuracy expects scores y_pred \(N, C\) and labels y \(N,\), got y_pred \(4,\) and y \(4,\)"),
]  # fmt: skip


@pytest.mark.parametrize(("metric", "output", "error", "match"), BAD_INPUTS)
def test_bad_inputs_name_the_metric_and_the_shapes(
    metric: Any, output: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        metric.update(output)


def test_changing_the_number_of_classes_between_updates_is_an_error() -> None:
    precision = Precision()
    precision.update((torch.randn(4, 3), torch.randint(0, 3, (4,))))
    with pytest.raises(ValueError, match=r"Precision expects 3 classes, but y_pred of shape \(2, 5\) has 5"):
        precision.update((torch.randn(2, 5), torch.randint(0, 5, (2,))))


def test_mixing_binary_and_multiclass_inputs_is_an_error() -> None:
    recall = Recall()
    recall.update((torch.randn(4, 2), torch.randint(0, 2, (4,))))
    with pytest.raises(ValueError, match="Recall got binary inputs after non-binary ones"):
        recall.update((torch.randint(0, 2, (4,)), torch.randint(0, 2, (4,))))


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Accuracy(task="regression"), ValueError, "Accuracy task must be one of .* got task='regression'"),
        (lambda: Accuracy(threshold=float("nan")), ValueError, "threshold must be a finite number, got threshold=nan"),
        (lambda: Precision(average="binary"), ValueError, "Precision average must be one of .* got average='binary'"),
        (lambda: Recall(num_classes=1), ValueError, "num_classes must be at least 2, got num_classes=1"),
        (lambda: Recall(num_classes=2.0), TypeError, "num_classes must be an int or None, got 2.0"),
        (lambda: Precision(task="binary", num_classes=3), ValueError, "task='binary' has 2 classes, got num_classes=3"),
        (lambda: Fbeta(beta=0), ValueError, "Fbeta beta must be a positive number, got beta=0"),
        (lambda: Fbeta(beta="1"), TypeError, r"Fbeta beta must be a number, got '1' \(str\)"),
        (
            lambda: Accuracy(threshold="0.5"),
            TypeError,
            r"threshold must be a number or None, got '0.5' \(str\)",
        ),
        (lambda: TopKCategoricalAccuracy(k=2.0), TypeError, r"k must be an integer, got 2.0 \(float\)"),
        (lambda: ConfusionMatrix(3, normalize="rows"), ValueError, "normalize must be None, .* got normalize='rows'"),
        (lambda: ConfusionMatrix(3, task="multilabel"), ValueError, "ConfusionMatrix counts one label per sample"),
        (lambda: TopKCategoricalAccuracy(k=0), ValueError, "k must be a positive integer, got k=0"),
        (lambda: Accuracy(device="gpu-7"), ValueError, "Accuracy device must name a torch device .* got 'gpu-7'"),
        (
            lambda: Accuracy(output_transform=3),
            TypeError,
            r"Accuracy output_transform must be callable as .*got 3 \(int\)",
        ),
    ],
)
def test_bad_arguments_are_rejected(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_a_loaded_state_keeps_its_number_of_classes_after_reset() -> None:
    """A metric that learned its classes from the data keeps them through load_state_dict and reset."""
    trained = Precision(average="macro")
    trained.update((torch.randn(8, 3), torch.randint(0, 3, (8,))))
    resumed = Precision(average="macro")
    resumed.load_state_dict(trained.state_dict())
    resumed.reset()
    resumed.update((torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), torch.tensor([0, 2])))
    assert resumed.compute() == pytest.approx((1.0 + 0.0 + 0.0) / 3)
