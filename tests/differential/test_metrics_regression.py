"""ignite's ``metrics.regression`` family in ember against pytorch-ignite 0.5.5: the same batches, the same values.

Every metric is built in both libraries and fed the same random batches (several seeds, several
ways of cutting the same rows into batches, (N,) and (N, 1) inputs, float32 and float64); ember's
``compute()`` must equal ignite's to 1e-6 relative. Edge cases (ties, constant inputs, an exact
prediction) are compared too, and a few metrics run attached to an engine of each library.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import ignite.contrib.metrics.regression as ignite_contrib_regression
import ignite.engine
import ignite.exceptions
import ignite.metrics.regression as ignite_regression
import pytest
import torch

import ember.contrib.metrics.regression as ember_contrib_regression
import ember.engine
import ember.metrics
import ember.metrics.regression as ember_regression

LIBRARIES = {"ignite": ignite_regression, "ember": ember_regression}
ENGINES = {"ignite": ignite.engine.Engine, "ember": ember.engine.Engine}
Batches = list[tuple[torch.Tensor, torch.Tensor]]

# name -> (how to build it from a library module, the kind of targets it needs)
METRICS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "R2Score": (lambda lib: lib.R2Score(), "any"),
    "PearsonCorrelation": (lambda lib: lib.PearsonCorrelation(), "any"),
    "SpearmanRankCorrelation": (lambda lib: lib.SpearmanRankCorrelation(), "any"),
    "KendallRankCorrelation(b)": (lambda lib: lib.KendallRankCorrelation(), "any"),
    "KendallRankCorrelation(c)": (lambda lib: lib.KendallRankCorrelation(variant="c"), "any"),
    "MeanAbsoluteRelativeError": (lambda lib: lib.MeanAbsoluteRelativeError(), "nonzero"),
    "MedianAbsoluteError": (lambda lib: lib.MedianAbsoluteError(), "any"),
    "MedianAbsolutePercentageError": (lambda lib: lib.MedianAbsolutePercentageError(), "nonzero"),
    "MedianRelativeAbsoluteError": (lambda lib: lib.MedianRelativeAbsoluteError(), "any"),
    "CanberraMetric": (lambda lib: lib.CanberraMetric(), "any"),
    "FractionalAbsoluteError": (lambda lib: lib.FractionalAbsoluteError(), "positive"),
    "FractionalBias": (lambda lib: lib.FractionalBias(), "positive"),
    "GeometricMeanAbsoluteError": (lambda lib: lib.GeometricMeanAbsoluteError(), "any"),
    "GeometricMeanRelativeAbsoluteError": (lambda lib: lib.GeometricMeanRelativeAbsoluteError(), "any"),
    "ManhattanDistance": (lambda lib: lib.ManhattanDistance(), "any"),
    "MaximumAbsoluteError": (lambda lib: lib.MaximumAbsoluteError(), "any"),
    "MeanError": (lambda lib: lib.MeanError(), "any"),
    "MeanNormalizedBias": (lambda lib: lib.MeanNormalizedBias(), "nonzero"),
    "WaveHedgesDistance": (lambda lib: lib.WaveHedgesDistance(), "positive"),
}
SPLITS = [(17,), (5, 7, 5), (1, 9, 3, 4), (2, 2, 2, 2, 2, 2, 2, 3)]
FORMS = ["float32", "column", "float64"]
SEEDS = range(4)
COMPARED: dict[str, int] = {}


def make_batches(seed: int, sizes: tuple[int, ...], targets: str, form: str) -> Batches:
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for size in sizes:
        y_pred = torch.randn(size, generator=generator, dtype=torch.float64)
        y = torch.randn(size, generator=generator, dtype=torch.float64)
        if targets == "positive":
            y_pred, y = y_pred.abs() + 0.1, y.abs() + 0.1
        elif targets == "nonzero":
            y = torch.where(y >= 0, y + 0.1, y - 0.1)
        if form != "float64":
            y_pred, y = y_pred.float(), y.float()
        if form == "column":
            y_pred, y = y_pred.unsqueeze(1), y.unsqueeze(1)
        batches.append((y_pred, y))
    return batches


def value_of(library: str, make: Callable[[Any], Any], batches: Batches, feed: str = "update") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ignite's deprecation warnings, scipy's constant-input warnings
        metric = make(LIBRARIES[library])
        if feed == "update":
            for batch in batches:
                metric.update(batch)
            return metric.compute()
        engine = ENGINES[library](lambda engine, batch: batch)
        metric.attach(engine, "value")
        return engine.run(batches).metrics["value"]


def assert_close(name: str, expected: Any, actual: Any, rtol: float = 1e-6) -> None:
    COMPARED[name] = COMPARED.get(name, 0) + 1
    assert isinstance(actual, float), f"{name}: ember gives {actual!r} ({type(actual).__name__}), not a float"
    if math.isnan(expected):
        assert math.isnan(actual), f"{name}: ember gives {actual!r}, ignite nan"
        return
    assert actual == pytest.approx(float(expected), rel=rtol, abs=1e-9), (
        f"{name}: ember {actual!r}, ignite {expected!r}"
    )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("sizes", SPLITS, ids=lambda sizes: "+".join(map(str, sizes)))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_each_metric_gives_ignites_value_on_random_batches(name: str, sizes: tuple[int, ...], form: str) -> None:
    make, targets = METRICS[name]
    for seed in SEEDS:
        batches = make_batches(seed, sizes, targets, form)
        assert_close(name, value_of("ignite", make, batches), value_of("ember", make, batches))


def _ties(seed: int) -> Batches:
    generator = torch.Generator().manual_seed(seed)
    rows = [torch.randint(0, 4, (6,), generator=generator).float() for _ in range(4)]
    return [(rows[0], rows[1]), (rows[2], rows[3])]


EDGE_CASES: dict[str, Callable[[int], Batches]] = {
    # rank correlations with ties in both inputs (tau-b's and tau-c's tie corrections)
    "ties": _ties,
    # one example per batch
    "singletons": lambda seed: make_batches(seed, (1, 1, 1, 1, 1), "positive", "float32"),
    # an exact prediction among others (log 0 = -inf for the geometric means)
    "one exact": lambda seed: [
        (torch.tensor([1.0, 2.0, 3.5]), torch.tensor([1.0, 2.5, 3.0])),
        (torch.tensor([0.5 + seed]), torch.tensor([0.25])),
    ],
    # constant predictions (Pearson's eps clamp)
    "constant predictions": lambda seed: [
        (torch.full((5,), 2.0), torch.randn(5, generator=torch.Generator().manual_seed(seed)).abs() + 0.5)
    ],
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_edge_cases_give_ignites_value_or_both_refuse(name: str, case: str) -> None:
    make, targets = METRICS[name]
    for seed in range(2):
        batches = EDGE_CASES[case](seed)
        if targets != "any" and any(bool((y <= 0).any()) for _, y in batches):
            continue
        try:
            expected = value_of("ignite", make, batches)
        except (ValueError, RuntimeError, ZeroDivisionError) as ignite_error:
            with pytest.raises((ValueError, RuntimeError)):  # NotComputableError is a RuntimeError
                value_of("ember", make, batches)
            COMPARED[name] = COMPARED.get(name, 0) + 1
            del ignite_error
            continue
        assert_close(name, expected, value_of("ember", make, batches))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_attached_to_an_engine_each_metric_gives_ignites_value(name: str) -> None:
    make, targets = METRICS[name]
    batches = make_batches(7, (4, 6, 5), targets, "float32")
    assert_close(name, value_of("ignite", make, batches, "engine"), value_of("ember", make, batches, "engine"))


def test_constant_targets_make_r2_undefined_in_both() -> None:
    """ignite divides by zero (ZeroDivisionError); ember says why (NotComputableError)."""
    batches = [(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 3.0]))]
    with pytest.raises(ZeroDivisionError):
        value_of("ignite", METRICS["R2Score"][0], batches)
    with pytest.raises(ember.metrics.NotComputableError, match="targets do not vary"):
        value_of("ember", METRICS["R2Score"][0], batches)


@pytest.mark.parametrize("name", ["MeanAbsoluteRelativeError", "MeanNormalizedBias"])
def test_a_zero_target_is_not_computable_in_both(name: str) -> None:
    batches = [(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0]))]
    for library, error in (
        ("ignite", ignite.exceptions.NotComputableError),
        ("ember", ember.metrics.NotComputableError),
    ):
        with pytest.raises(error):
            value_of(library, METRICS[name][0], batches)


def test_median_functions_give_ignites_values() -> None:
    generator = torch.Generator().manual_seed(3)
    for size in (1, 2, 7, 10):
        y_pred, y = torch.randn(size, generator=generator), torch.randn(size, generator=generator) + 3
        for function in (
            "median_absolute_error_compute_fn",
            "median_absolute_percentage_error_compute_fn",
            "median_relative_absolute_error_compute_fn",
        ):
            module = function.removesuffix("_compute_fn")
            expected = getattr(getattr(ignite_regression, module), function)(y_pred, y)
            actual = getattr(getattr(ember_regression, module), function)(y_pred, y)
            if not math.isnan(expected):
                assert_close(function, expected, actual)


def test_contrib_paths_hold_the_same_metrics() -> None:
    """ignite.contrib.metrics.regression's names exist in ember's contrib path, as the same classes."""
    names = [name for name in ignite_contrib_regression.__all__]
    assert names
    for name in names:
        ember_object = getattr(ember_contrib_regression, name)
        if name[0].isupper():
            assert ember_object is getattr(ember_regression, name)
        else:
            assert getattr(ember_object, "__name__", "").endswith(f"regression.{name}")


def test_zz_comparisons_were_made(capsys: pytest.CaptureFixture[str]) -> None:
    """Run last: prints the number of metric x input cases compared, for the closing notes."""
    total = sum(COMPARED.values())
    with capsys.disabled():
        print(f"\ndifferential regression metrics: {total} cases over {len(COMPARED)} metric forms")
    if len(COMPARED) < len(METRICS):
        pytest.skip("only part of the file ran")
    assert all(count >= 3 for count in COMPARED.values())


SUM_METRICS = [
    name for name in METRICS if not name.startswith(("Median", "Spearman", "Kendall", "GeometricMeanRelative"))
]


@pytest.mark.parametrize("direction", ["ignite->ember", "ember->ignite"])
@pytest.mark.parametrize("name", sorted(SUM_METRICS))
def test_a_saved_state_loads_across_libraries_and_continues(name: str, direction: str) -> None:
    """A checkpoint of one library's metric, loaded by the other's and fed the rest: the uninterrupted value."""
    source, target = direction.split("->")
    make, targets = METRICS[name]
    batches = make_batches(11, (6, 7), targets, "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = make(LIBRARIES[source])
        saved.update(batches[0])
        resumed = make(LIBRARIES[target])
        resumed.load_state_dict(saved.state_dict())
        resumed.update(batches[1])
        value = float(resumed.compute())
    assert_close(name, value_of(source, make, batches), value)
