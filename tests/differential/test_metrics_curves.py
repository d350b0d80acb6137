"""ember's scikit-learn-backed and per-class metrics against pytorch-ignite 0.5.5's, on the same random batches.

Each case builds the metric in both libraries, feeds both the same batches (one batch, or uneven
cuts, per seed) and compares the values: numbers close, tensors of the same shape and close, dicts
key by key, JSON reports parsed. Where ignite raises, ember must raise the same exception type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import ignite.engine
import ignite.metrics
import pytest
import torch

import ember.contrib.metrics
import ember.engine
import ember.metrics

LIBRARIES = {"ignite": ignite.metrics, "ember": ember.metrics}
ENGINES = {"ignite": ignite.engine.Engine, "ember": ember.engine.Engine}
SEEDS = (0, 1, 2)
CUTS = ((), (3, 11, 12, 30))  # one batch; uneven batches (one of a single row)
Batches = list[tuple[torch.Tensor, torch.Tensor]]


def binary(generator: torch.Generator, rows: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(rows, generator=generator), torch.randint(0, 2, (rows,), generator=generator)


def multilabel(generator: torch.Generator, rows: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, 2, (rows, 3), generator=generator)
    labels[:2] = torch.tensor([[0, 0, 0], [1, 1, 1]])  # every label has both values
    return torch.rand(rows, 3, generator=generator), labels


def multiclass_scores(generator: torch.Generator, rows: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(rows, 4, generator=generator), torch.randint(0, 4, (rows,), generator=generator)


def class_indices(generator: torch.Generator, rows: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, 5, (rows,), generator=generator), torch.randint(0, 5, (rows,), generator=generator)


def column_binary(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y_pred, y = binary(generator)
    return y_pred[:, None], y[:, None]


def single_class(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y_pred, _ = binary(generator)
    return y_pred, torch.ones(len(y_pred), dtype=torch.long)


def same_labels(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.full((40,), 2)
    return labels, labels.clone()


def multilabel_ints(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (40, 4, 3)
    return torch.randint(0, 2, shape, generator=generator), torch.randint(0, 2, shape, generator=generator)


def thresholded(data: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return (data[0] > 0.5).long(), data[1]


def mcc_one_hot(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    scores, labels = multiclass_scores(generator)
    return scores, torch.nn.functional.one_hot(labels, 4)


# name -> (make(metrics module), data(generator))
CASES: dict[str, tuple[Callable[[Any], Any], Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]]] = {
    "roc_auc_binary": (lambda lib: lib.ROC_AUC(), binary),
    "roc_auc_column": (lambda lib: lib.ROC_AUC(), column_binary),
    "roc_auc_multilabel": (lambda lib: lib.ROC_AUC(), multilabel),
    "roc_auc_single_class": (lambda lib: lib.ROC_AUC(), single_class),
    "roc_curve_binary": (lambda lib: lib.RocCurve(), binary),
    "roc_curve_column": (lambda lib: lib.RocCurve(), column_binary),
    "average_precision_binary": (lambda lib: lib.AveragePrecision(), binary),
    "average_precision_multilabel": (lambda lib: lib.AveragePrecision(), multilabel),
    "average_precision_single_class": (lambda lib: lib.AveragePrecision(), single_class),
    "pr_curve_binary": (lambda lib: lib.PrecisionRecallCurve(), binary),
    "pr_curve_single_class": (lambda lib: lib.PrecisionRecallCurve(), single_class),
    "kappa": (lambda lib: lib.CohenKappa(), class_indices),
    "kappa_linear": (lambda lib: lib.CohenKappa(weights="linear"), class_indices),
    "kappa_quadratic": (lambda lib: lib.CohenKappa(weights="quadratic"), class_indices),
    "kappa_num_classes": (lambda lib: lib.CohenKappa(num_classes=7, weights="linear"), class_indices),
    "kappa_binary_column": (lambda lib: lib.CohenKappa(), lambda g: tuple(t.long() for t in column_binary(g))),
    "kappa_single_class": (lambda lib: lib.CohenKappa(), same_labels),
    "mcc_labels": (lambda lib: lib.MatthewsCorrCoef(), class_indices),
    "mcc_scores": (lambda lib: lib.MatthewsCorrCoef(), multiclass_scores),
    "mcc_one_hot": (lambda lib: lib.MatthewsCorrCoef(), mcc_one_hot),
    "mcc_single_class": (lambda lib: lib.MatthewsCorrCoef(), same_labels),
    "report_json": (lambda lib: lib.ClassificationReport(), multiclass_scores),
    "report_dict_beta2": (
        lambda lib: lib.ClassificationReport(beta=2, output_dict=True, labels=list("abcd")),
        multiclass_scores,
    ),
    "report_multilabel": (
        lambda lib: lib.ClassificationReport(output_dict=True, is_multilabel=True),
        lambda g: thresholded(multilabel(g)),
    ),
    "mlcm": (lambda lib: lib.MultiLabelConfusionMatrix(num_classes=4), multilabel_ints),
    "mlcm_normalized": (lambda lib: lib.MultiLabelConfusionMatrix(num_classes=4, normalized=True), multilabel_ints),
}


def cut(data: tuple[torch.Tensor, torch.Tensor], cuts: tuple[int, ...]) -> Batches:
    return list(zip(*(tensor.tensor_split(list(cuts)) for tensor in data)))


def outcome(make: Callable[[Any], Any], library: str, batches: Batches) -> tuple[Any, type[BaseException] | None]:
    metric = make(LIBRARIES[library])
    try:
        for batch in batches:
            metric.update(batch)
        return metric.compute(), None
    except (ValueError, RuntimeError) as error:
        return None, type(error)


def assert_same(expected: Any, actual: Any, where: str = "value") -> None:
    """The same kind of value, equal where exact, close where floats."""
    if isinstance(expected, str):
        assert isinstance(actual, str), where
        assert_same(json.loads(expected), json.loads(actual), where)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), where
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected), where
        for index, (one, other) in enumerate(zip(expected, actual)):
            assert_same(one, other, f"{where}[{index}]")
    elif isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.shape == expected.shape and actual.dtype == expected.dtype, where
        torch.testing.assert_close(actual, expected, equal_nan=True, msg=where)
    else:
        assert not isinstance(actual, torch.Tensor), where
        assert float(actual) == pytest.approx(float(expected), rel=1e-9, abs=1e-12, nan_ok=True), where


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cuts", CUTS, ids=["one_batch", "uneven"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_ember_matches_ignite(case: str, cuts: tuple[int, ...], seed: int) -> None:
    make, data = CASES[case]
    batches = cut(data(torch.Generator().manual_seed(seed)), cuts)
    expected, expected_error = outcome(make, "ignite", batches)
    actual, actual_error = outcome(make, "ember", batches)
    assert actual_error == expected_error, f"ignite raised {expected_error}, ember {actual_error}"
    if expected_error is None:
        assert_same(expected, actual)


ATTACHED: dict[str, Callable[[Any], Any]] = {
    "roc_auc": lambda lib: lib.ROC_AUC(output_transform=lambda out: (out["y_pred"][:, 0].sigmoid(), out["y"] % 2)),
    "ap": lambda lib: lib.AveragePrecision(output_transform=lambda out: (out["y_pred"][:, 1], out["y"] % 2)),
    "kappa": lambda lib: lib.CohenKappa(output_transform=lambda out: (out["y_pred"].argmax(1), out["y"])),
    "mcc": lambda lib: lib.MatthewsCorrCoef(),
    "report": lambda lib: lib.ClassificationReport(output_dict=True),
    "report_named": lambda lib: lib.ClassificationReport(output_dict=True, metrics_result_mode="named"),
    "report_flat": lambda lib: lib.ClassificationReport(
        output_dict=True, labels=list("wxyz"), metrics_result_mode="flatten"
    ),
}


@pytest.mark.parametrize("seed", SEEDS)
def test_attached_metrics_publish_what_ignites_publish(seed: int) -> None:
    """attach + run: the same keys and values in engine.state.metrics, from dict outputs."""
    scores, labels = multiclass_scores(torch.Generator().manual_seed(seed), rows=60)
    data = [{"y_pred": scores[i : i + 7], "y": labels[i : i + 7]} for i in range(0, 60, 7)]
    published = {}
    for library in ("ignite", "ember"):
        engine = ENGINES[library](lambda engine, batch: batch)
        for name, make in ATTACHED.items():
            make(LIBRARIES[library]).attach(engine, name)
        published[library] = engine.run(data).metrics
    assert_same(dict(sorted(published["ignite"].items())), dict(sorted(published["ember"].items())))


def test_contrib_paths_name_the_same_classes() -> None:
    import ember.contrib.metrics.average_precision
    import ember.contrib.metrics.cohen_kappa
    import ember.contrib.metrics.precision_recall_curve
    import ember.contrib.metrics.roc_auc

    assert ember.contrib.metrics.ROC_AUC is ember.metrics.ROC_AUC
    assert ember.contrib.metrics.roc_auc.RocCurve is ember.metrics.RocCurve
    assert ember.contrib.metrics.average_precision.AveragePrecision is ember.metrics.AveragePrecision
    assert ember.contrib.metrics.cohen_kappa.CohenKappa is ember.metrics.CohenKappa
    assert ember.contrib.metrics.precision_recall_curve.PrecisionRecallCurve is ember.metrics.PrecisionRecallCurve
