"""ignite's regression family in ember: values against independent references, input errors, attaching."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.metrics import mean_absolute_percentage_error, median_absolute_error, r2_score

import ember.metrics.regression as regression
from ember.engine import Engine
from ember.metrics import NotComputableError

SUM_METRICS = [
    "CanberraMetric",
    "FractionalAbsoluteError",
    "FractionalBias",
    "GeometricMeanAbsoluteError",
    "ManhattanDistance",
    "MaximumAbsoluteError",
    "MeanAbsoluteRelativeError",
    "MeanError",
    "MeanNormalizedBias",
    "PearsonCorrelation",
    "R2Score",
    "WaveHedgesDistance",
]
EPOCH_METRICS = [
    "GeometricMeanRelativeAbsoluteError",
    "KendallRankCorrelation",
    "MedianAbsoluteError",
    "MedianAbsolutePercentageError",
    "MedianRelativeAbsoluteError",
    "SpearmanRankCorrelation",
]
ALL = SUM_METRICS + EPOCH_METRICS


def data(seed: int = 0, size: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    y_pred = torch.rand(size, generator=generator, dtype=torch.float64) + 0.5
    y = torch.rand(size, generator=generator, dtype=torch.float64) + 0.5
    return y_pred, y


def fed(name: str, y_pred: torch.Tensor, y: torch.Tensor, batch: int = 7) -> Any:
    metric = getattr(regression, name)()
    for start in range(0, len(y), batch):
        metric.update((y_pred[start : start + batch], y[start : start + batch]))
    return metric.compute()


def approx(name: str, expected: float) -> Any:
    """Another batching of the same rows: float32 sums in another order (R² and Pearson's r lose more digits)."""
    return pytest.approx(expected, rel=1e-5, abs=1e-4 if name in ("R2Score", "PearsonCorrelation") else 1e-9)


def references(y_pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Each metric's definition, computed with numpy, scipy or scikit-learn on all the data at once."""
    errors = y - y_pred
    return {
        "CanberraMetric": float(np.sum(np.abs(errors) / (np.abs(y_pred) + np.abs(y)))),
        "FractionalAbsoluteError": float(np.mean(2 * np.abs(errors) / (np.abs(y_pred) + np.abs(y)))),
        "FractionalBias": float(np.mean(2 * errors / (y_pred + y))),
        "GeometricMeanAbsoluteError": float(scipy.stats.gmean(np.abs(errors))),
        "ManhattanDistance": float(np.sum(np.abs(errors))),
        "MaximumAbsoluteError": float(np.max(np.abs(errors))),
        "MeanAbsoluteRelativeError": float(mean_absolute_percentage_error(y, y_pred)),
        "MeanError": float(np.mean(errors)),
        "MeanNormalizedBias": float(np.mean(errors / y)),
        "PearsonCorrelation": float(scipy.stats.pearsonr(y_pred, y).statistic),
        "R2Score": float(r2_score(y, y_pred)),
        "WaveHedgesDistance": float(np.sum(np.abs(errors) / np.maximum(y_pred, y))),
        "GeometricMeanRelativeAbsoluteError": float(scipy.stats.gmean(np.abs(errors) / np.abs(y - y.mean()))),
        "KendallRankCorrelation": float(scipy.stats.kendalltau(y_pred, y).statistic),
        "MedianAbsoluteError": float(median_absolute_error(y, y_pred)),
        "MedianAbsolutePercentageError": float(100 * np.median(np.abs(errors) / np.abs(y))),
        "MedianRelativeAbsoluteError": float(np.median(np.abs(errors) / np.abs(y - y.mean()))),
        "SpearmanRankCorrelation": float(scipy.stats.spearmanr(y_pred, y).statistic),
    }


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ALL)
def test_value_matches_an_independent_reference(name: str, seed: int) -> None:
    """float32 sums as ignite keeps them: close to the float64 reference to float32 precision.

    R² and Pearson's r are computed from raw moments (E[x²] - E[x]²) in float32, as ignite computes
    them, which loses a few more digits than the two-pass float64 reference.
    """
    y_pred, y = data(seed)
    expected = references(y_pred.numpy(), y.numpy())[name]
    atol = 1e-4 if name in ("R2Score", "PearsonCorrelation") else 1e-6
    assert fed(name, y_pred, y) == pytest.approx(expected, rel=2e-5, abs=atol)


@pytest.mark.parametrize("name", ALL)
def test_shapes_other_than_one_value_per_example_are_refused(name: str) -> None:
    metric = getattr(regression, name)()
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, 1\)"):
        metric.update((torch.rand(4, 2), torch.rand(4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        metric.update((torch.rand(4), torch.rand(4, 1)))
    with pytest.raises(ValueError, match="same shape"):
        metric.update((torch.rand(4), torch.rand(5)))


@pytest.mark.parametrize(
    "name", [name for name in ALL if name not in ("MedianAbsoluteError", "MedianAbsolutePercentageError")]
)
def test_integer_inputs_are_refused_with_the_fix(name: str) -> None:
    metric = getattr(regression, name)()
    with pytest.raises(TypeError, match=r"float dtype .* y_pred.float\(\)"):
        metric.update((torch.tensor([1, 2, 3]), torch.rand(3)))


@pytest.mark.parametrize("name", ["MedianAbsoluteError", "MedianAbsolutePercentageError"])
def test_median_metrics_take_integers_as_ignite_does(name: str) -> None:
    y_pred, y = torch.tensor([1, 5, 2, 8]), torch.tensor([2, 4, 4, 9])
    assert fed(name, y_pred, y) == pytest.approx(fed(name, y_pred.double(), y.double()))
    with pytest.raises(TypeError, match="real numbers"):
        getattr(regression, name)().update((y_pred.bool(), y.bool()))


@pytest.mark.parametrize("name", ALL)
def test_no_update_is_not_computable(name: str) -> None:
    with pytest.raises(NotComputableError):
        getattr(regression, name)().compute()


@pytest.mark.parametrize("name", ["MeanAbsoluteRelativeError", "MeanNormalizedBias"])
def test_a_zero_target_names_the_problem(name: str) -> None:
    with pytest.raises(NotComputableError, match="target equal to 0"):
        getattr(regression, name)().update((torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])))


def test_kendall_variant_is_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="'b' or 'c'"):
        regression.KendallRankCorrelation(variant="a")
    y_pred, y = data(3)
    tau_c = regression.KendallRankCorrelation(variant="c")
    tau_c.update((y_pred, y))
    assert tau_c.compute() == pytest.approx(scipy.stats.kendalltau(y_pred, y, variant="c").statistic)


def test_pearson_eps_is_checked_and_clamps_constant_inputs() -> None:
    with pytest.raises(ValueError, match="eps"):
        regression.PearsonCorrelation(eps=-1.0)
    metric = regression.PearsonCorrelation()
    metric.update((torch.full((4,), 3.0), torch.tensor([1.0, 2.0, 3.0, 5.0])))
    assert metric.compute() == 0.0


def test_constant_targets_make_r2_not_computable() -> None:
    metric = regression.R2Score()
    metric.update((torch.tensor([1.0, 2.0]), torch.tensor([4.0, 4.0])))
    with pytest.raises(NotComputableError, match="do not vary"):
        metric.compute()


def test_empty_batches_add_nothing() -> None:
    y_pred, y = data(4, size=10)
    for name in SUM_METRICS:
        metric = getattr(regression, name)()
        metric.update((y_pred[:0], y[:0]))
        metric.update((y_pred, y))
        assert metric.compute() == approx(name, fed(name, y_pred, y)), name


def test_column_inputs_equal_flat_inputs() -> None:
    y_pred, y = data(5)
    for name in ALL:
        assert fed(name, y_pred.unsqueeze(1), y.unsqueeze(1)) == approx(name, fed(name, y_pred, y)), name


def test_attached_metrics_publish_each_epochs_value() -> None:
    y_pred, y = data(6, size=12)
    batches = [(y_pred[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4)]
    engine = Engine(lambda engine, batch: {"y_pred": batch[0], "y": batch[1]})
    for name in ALL:
        getattr(regression, name)().attach(engine, name)
    metrics = engine.run(batches, max_epochs=2).metrics
    for name in ALL:
        assert metrics[name] == approx(name, fed(name, y_pred, y)), name
        assert isinstance(metrics[name], float)


def test_scipy_metrics_name_the_extra_when_scipy_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_scipy(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("scipy"):
            raise ImportError("No module named 'scipy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    for name in ("SpearmanRankCorrelation", "KendallRankCorrelation"):
        with pytest.raises(ModuleNotFoundError, match=r"ember\[scipy\]"):
            getattr(regression, name)()


def test_state_dict_round_trip_continues_the_sums() -> None:
    y_pred, y = data(8)
    for name in SUM_METRICS + EPOCH_METRICS:
        first = getattr(regression, name)()
        first.update((y_pred[:20], y[:20]))
        second = getattr(regression, name)()
        second.load_state_dict(first.state_dict())
        second.update((y_pred[20:], y[20:]))
        assert second.compute() == approx(name, fed(name, y_pred, y)), name


def test_geometric_mean_of_an_exact_prediction_is_zero() -> None:
    metric = regression.GeometricMeanAbsoluteError()
    metric.update((torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0])))
    assert metric.compute() == 0.0
    assert not math.isnan(metric.compute())
