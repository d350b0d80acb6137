"""ignite's long-tail metrics in ember: values against independent references, input errors, state, attaching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch

from ember.engine import Engine, Events
from ember.metrics import (
    HSIC,
    CosineSimilarity,
    Entropy,
    Frequency,
    JSDivergence,
    KLDivergence,
    MaximumMeanDiscrepancy,
    MeanPairwiseDistance,
    MeanSquaredError,
    Metric,
    MetricGroup,
    MutualInformation,
    NotComputableError,
)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def fed(metric: Metric, x: torch.Tensor, y: torch.Tensor, batch: int = 5) -> Any:
    for start in range(0, len(x), batch):
        metric.update((x[start : start + batch], y[start : start + batch]))
    return metric.compute()


def test_cosine_similarity_and_distance_match_scipy() -> None:
    x, y = randn(17, 4), randn(17, 4, seed=1)
    cosine = np.mean([1 - scipy.spatial.distance.cosine(a, b) for a, b in zip(x.numpy(), y.numpy())])
    assert fed(CosineSimilarity(), x, y) == pytest.approx(cosine, rel=1e-6)
    for p in (1, 2, 3):
        distance = np.mean([scipy.spatial.distance.minkowski(a, b, p) for a, b in zip(x.numpy(), y.numpy())])
        assert fed(MeanPairwiseDistance(p=p, eps=0.0), x, y) == pytest.approx(distance, rel=1e-6)


def test_entropy_and_divergences_match_scipy() -> None:
    x, y = randn(13, 5), randn(13, 5, seed=1)
    p, q = scipy.special.softmax(x.numpy(), axis=1), scipy.special.softmax(y.numpy(), axis=1)
    assert fed(Entropy(), x, y) == pytest.approx(np.mean(scipy.stats.entropy(p, axis=1)), rel=1e-6)
    assert fed(KLDivergence(), x, y) == pytest.approx(np.mean(scipy.stats.entropy(q, p, axis=1)), rel=1e-6)
    js = np.mean(scipy.spatial.distance.jensenshannon(p, q, axis=1) ** 2)
    assert fed(JSDivergence(), x, y) == pytest.approx(js, rel=1e-5)
    marginal = p.mean(axis=0)
    information = scipy.stats.entropy(marginal) - np.mean(scipy.stats.entropy(p, axis=1))
    assert fed(MutualInformation(), x, y) == pytest.approx(information, rel=1e-5)


def test_spatial_scores_count_every_position_as_a_prediction() -> None:
    x = randn(3, 4, 2, 2)
    rows = x.movedim(1, -1).reshape(-1, 4)
    assert fed(Entropy(), x, x) == pytest.approx(fed(Entropy(), rows, rows))


def test_hsic_against_a_direct_formula_and_independence() -> None:
    x, y = randn(20, 2), randn(20, 2, seed=1)
    size = 20

    def kernel(rows: np.ndarray, variance: float) -> np.ndarray:
        distances = scipy.spatial.distance.cdist(rows, rows, "sqeuclidean")
        matrix = np.exp(-distances / (2 * variance))
        np.fill_diagonal(matrix, 0.0)
        return matrix

    k, l_ = kernel(x.numpy(), 1.0), kernel(np.sin(x.numpy()), 0.25)
    ones = np.ones(size)
    expected = (
        np.trace(k @ l_)
        + (ones @ k @ ones) * (ones @ l_ @ ones) / ((size - 1) * (size - 2))
        - 2 / (size - 2) * ones @ k @ l_ @ ones
    ) / (size * (size - 3))
    metric = HSIC(sigma_x=1.0, sigma_y=0.5)
    metric.update((x, torch.sin(x)))
    assert metric.compute() == pytest.approx(max(expected, 0.0), rel=1e-6)
    independent = HSIC()
    independent.update((x, y))
    assert independent.compute() < metric.compute()


def test_mmd_against_a_direct_formula() -> None:
    x, y = randn(12, 3), randn(12, 3, seed=1) + 1.0

    def mean_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-scipy.spatial.distance.cdist(a, b, "sqeuclidean") / 2.0)

    n = 12
    xx = (mean_kernel(x.numpy(), x.numpy()).sum() - n) / (n * (n - 1))
    yy = (mean_kernel(y.numpy(), y.numpy()).sum() - n) / (n * (n - 1))
    xy = mean_kernel(x.numpy(), y.numpy()).sum() / n**2
    metric = MaximumMeanDiscrepancy()
    metric.update((x, y))
    assert metric.compute() == pytest.approx(np.sqrt(xx + yy - 2 * xy), rel=1e-6)


BAD_INPUTS = [
    (CosineSimilarity, (torch.rand(4, 3), torch.rand(4, 2)), ValueError, "same shape"),
    (CosineSimilarity, (torch.rand(4), torch.rand(4)), ValueError, "unsqueeze"),
    (CosineSimilarity, (torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long)), TypeError, "float"),
    (MeanPairwiseDistance, (torch.rand(4, 3), torch.rand(3, 3)), ValueError, "same shape"),
    (Entropy, (torch.rand(4), None), ValueError, r"\(B, C\)"),
    (Entropy, (torch.ones(4, 2, dtype=torch.long), None), TypeError, "float"),
    (Entropy, torch.rand(4, 2), TypeError, "first item"),
    (MutualInformation, (torch.rand(4), None), ValueError, r"\(B, C\)"),
    (KLDivergence, (torch.rand(4, 3), torch.rand(4, 2)), ValueError, "same shape"),
    (KLDivergence, (torch.rand(4), torch.rand(4)), ValueError, r"\(B, C\)"),
    (JSDivergence, (torch.rand(4, 3), torch.ones(4, 3, dtype=torch.long)), TypeError, "float"),
    (HSIC, (torch.rand(5, 3), torch.rand(4, 3)), ValueError, "same B"),
    (MaximumMeanDiscrepancy, (torch.rand(5, 3), torch.rand(5, 2)), ValueError, "same shape"),
    (MaximumMeanDiscrepancy, (torch.rand(1, 3), torch.rand(1, 3)), ValueError, "at least 2 rows"),
]


@pytest.mark.parametrize(("cls", "output", "error", "match"), BAD_INPUTS)
def test_bad_inputs_are_refused_with_the_fix(cls: type, output: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        cls().update(output)


def test_bad_arguments_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="positive"):
        MeanPairwiseDistance(p=0)
    with pytest.raises(ValueError, match="sigma_x"):
        HSIC(sigma_x=0)
    with pytest.raises(ValueError, match="var"):
        MaximumMeanDiscrepancy(var=-1.0)
    with pytest.raises(TypeError, match="dict of"):
        MetricGroup([MeanSquaredError()])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "cls", [CosineSimilarity, MeanPairwiseDistance, Entropy, MutualInformation, KLDivergence, JSDivergence, HSIC]
)
def test_no_update_is_not_computable(cls: type) -> None:
    with pytest.raises(NotComputableError):
        cls().compute()


def test_hsic_with_only_small_batches_is_not_computable() -> None:
    metric = HSIC()
    metric.update((torch.rand(3, 2), torch.rand(3, 2)))
    with pytest.raises(NotComputableError, match="4 rows"):
        metric.compute()


def test_mutual_information_refuses_a_change_of_classes() -> None:
    metric = MutualInformation()
    metric.update((torch.rand(4, 3), None))
    with pytest.raises(ValueError, match="classes"):
        metric.update((torch.rand(4, 2), None))


@pytest.mark.parametrize(
    "make", [MutualInformation, Entropy, CosineSimilarity, KLDivergence, MaximumMeanDiscrepancy, HSIC]
)
def test_state_dict_round_trip_continues(make: Any) -> None:
    x, y = randn(16, 3).float(), randn(16, 3, seed=2).float()
    first = make()
    fed(first, x[:8], y[:8], batch=8)
    second = make()
    second.load_state_dict(first.state_dict())
    second.update((x[8:], y[8:]))
    assert second.compute() == pytest.approx(fed(make(), x, y, batch=8), rel=1e-6)


def test_metric_group_updates_each_metric_through_its_transform_and_saves_them() -> None:
    x, y = randn(10, 3).float(), randn(10, 3, seed=1).float()
    group = MetricGroup({"mse": MeanSquaredError(), "cos": CosineSimilarity(output_transform=lambda o: (o[1], o[0]))})
    values = fed(group, x, y)
    assert values == {
        "mse": pytest.approx(fed(MeanSquaredError(), x, y)),
        "cos": pytest.approx(fed(CosineSimilarity(), y, x)),
    }
    copy = MetricGroup({"mse": MeanSquaredError(), "cos": CosineSimilarity()})
    copy.load_state_dict(group.state_dict())
    assert copy.compute() == values
    with pytest.raises(ValueError, match="same metrics"):
        MetricGroup({"other": MeanSquaredError()}).load_state_dict(group.state_dict())
    engine = Engine(lambda engine, batch: batch)
    group.attach(engine, "group")
    metrics = engine.run([(x[:5], y[:5]), (x[5:], y[5:])]).metrics
    assert metrics["group"] == {"mse": metrics["mse"], "cos": metrics["cos"]}
    assert metrics["mse"] == pytest.approx(values["mse"])


def test_frequency_counts_per_second_and_refuses_non_numbers() -> None:
    metric = Frequency()
    metric.update(100)
    metric.update(torch.tensor(50))
    value = metric.compute()
    assert value > 150  # 150 things in far less than a second
    assert value == pytest.approx(150 / float(metric.elapsed), rel=1e-9)
    with pytest.raises(TypeError, match="output_transform"):
        metric.update("ten")
    engine = Engine(lambda engine, batch: len(batch))
    Frequency().attach(engine, "per_s", event_name=Events.EPOCH_COMPLETED)
    assert isinstance(engine.run([[1, 2]] * 3).metrics["per_s"], int)
