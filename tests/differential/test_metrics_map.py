"""ember's MeanAveragePrecision against pytorch-ignite 0.5.5's on the same random scores and batch cuts."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import ignite.engine
import ignite.metrics
import pytest
import torch

import ember.engine
import ember.metrics

LIBRARIES = {"ignite": ignite.metrics, "ember": ember.metrics}
SEEDS = (0, 1, 2)
CUTS = ((), (4, 13, 14))
Data = tuple[torch.Tensor, torch.Tensor]


def binary(generator: torch.Generator) -> Data:
    return torch.rand(30, generator=generator), torch.randint(0, 2, (30,), generator=generator)


def binary_ties(generator: torch.Generator) -> Data:
    """Scores from four values: the ties are taken together."""
    return torch.randint(0, 4, (30,), generator=generator) / 4.0, torch.randint(0, 2, (30,), generator=generator)


def multiclass(generator: torch.Generator) -> Data:
    return torch.randn(30, 4, generator=generator).softmax(1), torch.randint(0, 4, (30,), generator=generator)


def segmentation(generator: torch.Generator) -> Data:
    """Scores (N, C, H, W) with labels (N, H, W)."""
    return torch.rand(30, 3, 2, 2, generator=generator), torch.randint(0, 3, (30, 2, 2), generator=generator)


def multilabel(generator: torch.Generator) -> Data:
    labels = torch.randint(0, 2, (30, 3), generator=generator)
    labels[0] = 1
    return torch.rand(30, 3, generator=generator), labels


def absent_class(generator: torch.Generator) -> Data:
    """A class that never occurs: its recall is taken as 1 everywhere."""
    scores, labels = multiclass(generator)
    return scores, labels.clamp(max=2)


CASES: dict[str, tuple[Callable[[Any], Any], Callable[[torch.Generator], Data]]] = {
    "binary": (lambda lib: lib.MeanAveragePrecision(), binary),
    "binary_ties": (lambda lib: lib.MeanAveragePrecision(), binary_ties),
    "binary_thresholds": (lambda lib: lib.MeanAveragePrecision(rec_thresholds=[0.0, 0.2, 0.5, 0.7, 1.0]), binary),
    "multiclass_macro": (lambda lib: lib.MeanAveragePrecision(), multiclass),
    "multiclass_none": (lambda lib: lib.MeanAveragePrecision(class_mean=None), multiclass),
    "multiclass_weighted": (lambda lib: lib.MeanAveragePrecision(class_mean="weighted"), multiclass),
    "multiclass_micro": (lambda lib: lib.MeanAveragePrecision(class_mean="micro"), multiclass),
    "multiclass_thresholds": (
        lambda lib: lib.MeanAveragePrecision(rec_thresholds=torch.linspace(0, 1, 11)),
        multiclass,
    ),
    "multiclass_absent": (lambda lib: lib.MeanAveragePrecision(class_mean=None), absent_class),
    "segmentation": (lambda lib: lib.MeanAveragePrecision(class_mean="weighted"), segmentation),
    "multilabel": (lambda lib: lib.MeanAveragePrecision(is_multilabel=True, class_mean=None), multilabel),
    "multilabel_micro": (lambda lib: lib.MeanAveragePrecision(is_multilabel=True, class_mean="micro"), multilabel),
}


def value_of(make: Callable[[Any], Any], library: str, batches: list[Data]) -> Any:
    metric = make(LIBRARIES[library])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ignite's gather warns about torch's indexing
        for batch in batches:
            metric.update(batch)
        return metric.compute()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cuts", CUTS, ids=["one_batch", "uneven"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_ember_matches_ignite(case: str, cuts: tuple[int, ...], seed: int) -> None:
    make, data = CASES[case]
    y_pred, y = data(torch.Generator().manual_seed(seed))
    batches = list(zip(y_pred.tensor_split(list(cuts)), y.tensor_split(list(cuts))))
    expected, actual = value_of(make, "ignite", batches), value_of(make, "ember", batches)
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and actual.shape == expected.shape and actual.dtype == expected.dtype
        torch.testing.assert_close(actual, expected)
    else:
        assert not isinstance(actual, torch.Tensor)
        assert actual == pytest.approx(expected, rel=1e-12)


def test_attached_map_publishes_ignites_value() -> None:
    y_pred, y = multiclass(torch.Generator().manual_seed(5))
    data = [{"y_pred": y_pred[i : i + 8], "y": y[i : i + 8]} for i in range(0, 30, 8)]
    published = {}
    for library, engine_class in (("ignite", ignite.engine.Engine), ("ember", ember.engine.Engine)):
        engine = engine_class(lambda engine, batch: batch)
        LIBRARIES[library].MeanAveragePrecision().attach(engine, "map")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            published[library] = engine.run(data).metrics["map"]
    assert published["ember"] == pytest.approx(published["ignite"], rel=1e-12)
