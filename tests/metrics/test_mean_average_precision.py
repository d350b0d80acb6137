"""MeanAveragePrecision: scikit-learn's average precision per class, and bad inputs refused when fed."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import average_precision_score

from ember.exceptions import NotComputableError
from ember.metrics import MeanAveragePrecision


def test_per_class_values_equal_scikit_learn() -> None:
    generator = torch.Generator().manual_seed(2)
    scores, labels = torch.rand(60, 4, generator=generator), torch.randint(0, 4, (60,), generator=generator)
    metric = MeanAveragePrecision(class_mean=None)
    metric.update((scores[:25], labels[:25]))
    metric.update((scores[25:], labels[25:]))
    one_hot = torch.nn.functional.one_hot(labels, 4).numpy()
    expected = average_precision_score(one_hot, scores.numpy(), average=None)
    assert metric.compute().tolist() == pytest.approx(list(expected))
    macro = MeanAveragePrecision()
    macro.update((scores, labels))
    assert float(macro.compute()) == pytest.approx(average_precision_score(one_hot, scores.numpy()))


def test_binary_value_is_a_float_equal_to_scikit_learn() -> None:
    generator = torch.Generator().manual_seed(3)
    scores, labels = torch.rand(40, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    metric = MeanAveragePrecision()
    metric.update((scores, labels))
    value = metric.compute()
    assert isinstance(value, float) and value == pytest.approx(average_precision_score(labels, scores))


@pytest.mark.parametrize(
    ("output", "error", "match"),
    [
        ((torch.rand(4, 3), torch.rand(4, 2)), ValueError, r"y_pred \(4, 3\) and y \(4, 2\)"),
        ((torch.randint(0, 2, (4,)), torch.randint(0, 2, (4,))), TypeError, "float scores"),
        ((torch.rand(4, 3), torch.tensor([0, 1, 3, 0])), ValueError, r"outside \[0, 3\)"),
        ((torch.rand(4), torch.tensor([0, 1, 2, 0])), ValueError, "0/1 targets"),
    ],
)
def test_bad_inputs_are_refused_at_update(output: tuple[torch.Tensor, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        MeanAveragePrecision().update(output)


def test_a_change_of_input_kind_is_refused() -> None:
    metric = MeanAveragePrecision()
    metric.update((torch.rand(4, 3), torch.tensor([0, 1, 2, 0])))
    with pytest.raises(ValueError, match="keep one kind of input"):
        metric.update((torch.rand(4), torch.tensor([0, 1, 1, 0])))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"class_mean": "median"}, ValueError, "class_mean"),
        ({"rec_thresholds": [0.5, 1.5]}, ValueError, r"\[0, 1\]"),
        ({"rec_thresholds": [[0.5]]}, ValueError, "one-dimensional"),
        ({"rec_thresholds": "0.5"}, TypeError, "sequence of floats"),
    ],
)
def test_bad_arguments_are_refused_at_construction(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        MeanAveragePrecision(**kwargs)  # type: ignore[arg-type]


def test_multilabel_needs_is_multilabel_shapes() -> None:
    with pytest.raises(ValueError, match="is_multilabel=True"):
        MeanAveragePrecision(is_multilabel=True).update((torch.rand(4), torch.randint(0, 2, (4,))))


def test_nothing_seen_is_not_computable() -> None:
    with pytest.raises(NotComputableError):
        MeanAveragePrecision().compute()
