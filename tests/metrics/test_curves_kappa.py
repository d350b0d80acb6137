"""ROC AUC, curves, average precision, Cohen's kappa, MCC, the classification report and the multilabel
confusion matrix: independent references, bad inputs refused when fed, the missing-extra error."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from sklearn import metrics as sk

from ember.engine import Engine
from ember.exceptions import NotComputableError
from ember.metrics import (
    ROC_AUC,
    AveragePrecision,
    ClassificationReport,
    CohenKappa,
    MatthewsCorrCoef,
    MultiLabelConfusionMatrix,
    PrecisionRecallCurve,
    RocCurve,
)


def test_cohen_kappa_equals_scikit_learn_for_every_weighting() -> None:
    generator = torch.Generator().manual_seed(5)
    y_pred, y = torch.randint(0, 6, (200,), generator=generator), torch.randint(0, 6, (200,), generator=generator)
    for weights in (None, "linear", "quadratic"):
        metric = CohenKappa(weights=weights)
        metric.update((y_pred[:70], y[:70]))
        metric.update((y_pred[70:], y[70:]))
        assert metric.compute() == pytest.approx(sk.cohen_kappa_score(y, y_pred, weights=weights))


def test_multilabel_confusion_matrix_equals_scikit_learn() -> None:
    generator = torch.Generator().manual_seed(3)
    y_pred, y = torch.randint(0, 2, (50, 5), generator=generator), torch.randint(0, 2, (50, 5), generator=generator)
    metric = MultiLabelConfusionMatrix(num_classes=5)
    metric.update((y_pred[:20], y[:20]))
    metric.update((y_pred[20:], y[20:]))
    assert metric.compute().tolist() == sk.multilabel_confusion_matrix(y.numpy(), y_pred.numpy()).tolist()


def test_curves_are_float64_tensors_equal_to_scikit_learn() -> None:
    generator = torch.Generator().manual_seed(1)
    scores, labels = torch.rand(30, generator=generator), torch.randint(0, 2, (30,), generator=generator)
    roc, pr = RocCurve(), PrecisionRecallCurve()
    for metric in (roc, pr):
        metric.update((scores[:12], labels[:12]))
        metric.update((scores[12:], labels[12:]))
    for got, want in zip(roc.compute(), sk.roc_curve(labels.numpy(), scores.numpy())):
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, torch.from_numpy(want.copy()).double())
    for got, want in zip(pr.compute(), sk.precision_recall_curve(labels.numpy(), scores.numpy())):
        torch.testing.assert_close(got, torch.from_numpy(want.copy()).double())


def test_report_json_lists_every_class_and_the_macro_average() -> None:
    report = ClassificationReport(beta=2)
    report.update((torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), torch.tensor([0, 1, 0])))
    rows = json.loads(report.compute())
    assert list(rows) == ["0", "1", "macro avg"]
    assert rows["0"] == {"precision": 1.0, "recall": 0.5, "f2-score": pytest.approx(5 * 0.5 / (4 + 0.5))}


@pytest.mark.parametrize(
    ("metric", "output", "match"),
    [
        (ROC_AUC(), (torch.rand(4, 2), torch.tensor([0, 1, 0, 1])), "same shape"),
        (AveragePrecision(), (torch.rand(4), torch.tensor([0, 1, 1])), "same shape"),
        (RocCurve(), (torch.rand(4, 2), torch.randint(0, 2, (4, 2))), r"shape \(N,\)"),
        (PrecisionRecallCurve(), (torch.rand(4, 3), torch.randint(0, 2, (4, 3))), r"shape \(N,\)"),
        (ROC_AUC(), (torch.rand(2, 2, 2), torch.rand(2, 2, 2)), r"\(N,\) or \(N, C\)"),
        (CohenKappa(), (torch.randint(0, 2, (4, 3)), torch.randint(0, 2, (4, 3))), "multilabel"),
        (CohenKappa(), (torch.tensor([0, 1]), torch.tensor([0, 1, 1])), "same shape"),
        (CohenKappa(num_classes=3), (torch.tensor([0, 3]), torch.tensor([0, 1])), "num_classes=3"),
        (CohenKappa(), (torch.tensor([0, -1]), torch.tensor([0, 1])), "negative"),
        (MatthewsCorrCoef(), (torch.tensor([0, 1]), torch.tensor([[1, 0], [0, 1]])), "one-hot"),
        (MatthewsCorrCoef(), (torch.tensor([0, 1]), torch.tensor([0, 1, 1])), "one row per sample"),
        (MultiLabelConfusionMatrix(3), (torch.ones(4, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.long)), "3"),
        (MultiLabelConfusionMatrix(2), (torch.ones(4, 2), torch.ones(4, 2)), "integer"),
        (MultiLabelConfusionMatrix(2), (torch.full((4, 2), 2), torch.ones(4, 2, dtype=torch.long)), "0/1"),
        (MultiLabelConfusionMatrix(2), (torch.ones(4, dtype=torch.long), torch.ones(4, dtype=torch.long)), "shape"),
    ],
)
def test_bad_inputs_are_refused_at_update(metric: object, output: tuple[torch.Tensor, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        metric.update(output)  # type: ignore[attr-defined]


def test_bad_arguments_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="linear"):
        CohenKappa(weights="cubic")
    with pytest.raises(ValueError, match="at least 2"):
        MultiLabelConfusionMatrix(num_classes=1)
    with pytest.raises(ValueError, match="metrics_result_mode"):
        ClassificationReport(metrics_result_mode="all")
    with pytest.raises(TypeError, match="strings"):
        ClassificationReport(labels=[1, 2])  # type: ignore[list-item]


def test_report_with_too_few_labels_says_so() -> None:
    report = ClassificationReport(labels=["only"])
    report.update((torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="1 labels for 2 classes"):
        report.compute()


def test_compute_before_any_update_is_not_computable() -> None:
    for metric in (ROC_AUC(), RocCurve(), CohenKappa(), MultiLabelConfusionMatrix(2)):
        with pytest.raises(NotComputableError):
            metric.compute()


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)
    for metric in (ROC_AUC, RocCurve, AveragePrecision, PrecisionRecallCurve, MatthewsCorrCoef):
        with pytest.raises(ModuleNotFoundError, match=r"ember\[sklearn\]"):
            metric()


def test_attached_roc_auc_with_a_sigmoid_output_transform() -> None:
    """ignite's documented usage: an output_transform applies the activation."""
    logits, labels = torch.tensor([-2.0, 0.5, 1.0, 3.0]), torch.tensor([0, 0, 1, 1])
    engine = Engine(lambda engine, batch: batch)
    ROC_AUC(output_transform=lambda output: (torch.sigmoid(output[0]), output[1])).attach(engine, "auc")
    assert engine.run([(logits[:2], labels[:2]), (logits[2:], labels[2:])]).metrics["auc"] == 1.0
