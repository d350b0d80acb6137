"""Clustering and fairness metrics: scikit-learn's values, hand-computed group gaps, input errors, state."""

from __future__ import annotations

import builtins
from typing import Any

import pytest
import torch
from sklearn.metrics import accuracy_score, calinski_harabasz_score, davies_bouldin_score, silhouette_score

from ember.engine import Engine
from ember.metrics import Accuracy, EpochMetricWarning, NotComputableError
from ember.metrics.clustering import CalinskiHarabaszScore, DaviesBouldinScore, SilhouetteScore
from ember.metrics.fairness import (
    DemographicParityDifference,
    SelectionRate,
    SubgroupAccuracyDifference,
    SubgroupDifference,
    SubgroupMetric,
)

SCORES = [
    (SilhouetteScore, silhouette_score),
    (DaviesBouldinScore, davies_bouldin_score),
    (CalinskiHarabaszScore, calinski_harabasz_score),
]


def blobs(seed: int = 0, size: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (size,), generator=generator)
    return labels.unsqueeze(1) * 2.0 + torch.randn(size, 2, generator=generator), labels


@pytest.mark.parametrize(("cls", "reference"), SCORES)
def test_clustering_scores_equal_scikit_learn_on_all_batches(cls: type, reference: Any) -> None:
    features, labels = blobs()
    metric = cls()
    for start in range(0, 30, 7):
        metric.update((features[start : start + 7], labels[start : start + 7]))
    assert metric.compute() == pytest.approx(reference(features.numpy(), labels.numpy()), rel=1e-6)


@pytest.mark.parametrize(("cls", "reference"), SCORES)
def test_clustering_inputs_are_checked(cls: type, reference: Any) -> None:
    metric = cls()
    with pytest.raises(ValueError, match=r"features of shape \(N, D\)"):
        metric.update((torch.rand(4), torch.tensor([0, 1, 0, 1])))
    with pytest.raises(ValueError, match=r"labels of shape \(N,\)"):
        metric.update((torch.rand(4, 2), torch.tensor([[0, 1, 0, 1]])))
    with pytest.raises(TypeError, match="integer cluster labels"):
        metric.update((torch.rand(4, 2), torch.tensor([0.0, 1.0, 0.0, 1.0])))
    metric.update((torch.rand(4, 2), torch.tensor([0, 1, 0, 1])))
    with pytest.raises(ValueError, match="dtypes the same"):
        metric.update((torch.rand(4, 2, dtype=torch.float64), torch.tensor([0, 1, 0, 1])))
    with pytest.raises(NotComputableError):
        cls().compute()


def test_a_single_feature_column_is_kept_two_dimensional() -> None:
    features, labels = blobs(1)
    metric = SilhouetteScore()
    metric.update((features[:, :1], labels))
    assert metric.compute() == pytest.approx(silhouette_score(features[:, :1].numpy(), labels.numpy()), rel=1e-6)


def test_a_failing_first_batch_warns_and_check_compute_fn_false_stays_silent() -> None:
    metric = SilhouetteScore(silhouette_kwargs={"metric": "no such metric"})
    with pytest.warns(EpochMetricWarning, match="first batch"):
        metric.update((torch.rand(4, 2), torch.tensor([0, 1, 0, 1])))
    SilhouetteScore(check_compute_fn=False, silhouette_kwargs={"metric": "no such metric"}).update(
        (torch.rand(4, 2), torch.tensor([0, 1, 0, 1]))
    )


def test_clustering_names_the_extra_when_scikit_learn_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_sklearn(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    monkeypatch.setattr("importlib.import_module", lambda name, package=None: no_sklearn(name))
    for cls, _ in SCORES:
        with pytest.raises(ModuleNotFoundError, match=r"ember\[sklearn\]"):
            cls()


def grouped(seed: int = 0, size: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, 2, (size,), generator=generator),
        torch.randint(0, 2, (size,), generator=generator),
        torch.randint(0, 3, (size,), generator=generator),
    )


def test_subgroup_values_equal_scikit_learn_per_group() -> None:
    y_pred, y, groups = grouped()
    metric = SubgroupMetric(Accuracy(), groups=[0, 1, 2])
    gap = SubgroupAccuracyDifference(groups=[0, 1, 2])
    for start in range(0, 40, 9):
        batch = (y_pred[start : start + 9], y[start : start + 9], groups[start : start + 9])
        metric.update(batch)
        gap.update(batch)
    expected = {g: accuracy_score(y[groups == g].numpy(), y_pred[groups == g].numpy()) for g in (0, 1, 2)}
    assert metric.compute() == pytest.approx(expected)
    assert gap.compute() == pytest.approx(max(expected.values()) - min(expected.values()))


def test_selection_rates_and_demographic_parity_by_hand() -> None:
    y_pred, y, groups = grouped(1)
    rates = {g: float(y_pred[groups == g].float().mean()) for g in (0, 1, 2)}
    parity = DemographicParityDifference(groups=[0, 1, 2])
    parity.update((y_pred, y, groups))
    assert parity.compute() == pytest.approx(max(rates.values()) - min(rates.values()))
    rate = SelectionRate()
    rate.update((y_pred, y))
    positive = float(y_pred.float().mean())
    torch.testing.assert_close(rate.compute(), torch.tensor([1 - positive, positive]))
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.0, 0.2, 0.7], [0.0, 1.0, 0.0]])
    multiclass = SelectionRate()
    multiclass.update((scores, torch.zeros(4, dtype=torch.long)))
    torch.testing.assert_close(multiclass.compute(), torch.tensor([0.25, 0.5, 0.25]))


def test_fairness_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="group_labels"):
        SubgroupMetric(Accuracy(), groups=[0, 1]).update((torch.tensor([1, 0]), torch.tensor([1, 0])))
    with pytest.raises(ValueError, match="same first dimension"):
        SubgroupMetric(Accuracy(), groups=[0, 1]).update(
            (torch.tensor([1, 0]), torch.tensor([1, 0]), torch.tensor([0]))
        )
    with pytest.raises(ValueError, match="distinct"):
        SubgroupMetric(Accuracy(), groups=[0, 0])
    with pytest.raises(TypeError, match="ember Metric"):
        SubgroupDifference(object(), groups=[0, 1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0/1"):
        SelectionRate().update((torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1])))
    with pytest.raises(ValueError, match="layouts"):
        SelectionRate().update((torch.rand(3, 2), torch.rand(4, 5)))
    rate = SelectionRate()
    rate.update((torch.tensor([0, 1]), torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="one kind of input"):
        rate.update((torch.rand(2, 3), torch.tensor([0, 1])))
    with pytest.raises(NotComputableError, match="at least two"):
        gap = SubgroupDifference(Accuracy(), groups=[0, 1])
        gap.update((torch.tensor([1]), torch.tensor([1]), torch.tensor([0])))
        gap.compute()


def test_fairness_state_round_trip_and_attach_with_dict_output() -> None:
    y_pred, y, groups = grouped(2)
    first = SubgroupMetric(SelectionRate(), groups=[0, 1, 2])
    first.update((y_pred[:20], y[:20], groups[:20]))
    second = SubgroupMetric(SelectionRate(), groups=[0, 1, 2])
    second.load_state_dict(first.state_dict())
    second.update((y_pred[20:], y[20:], groups[20:]))
    whole = SubgroupMetric(SelectionRate(), groups=[0, 1, 2])
    whole.update((y_pred, y, groups))
    for group, value in whole.compute().items():
        torch.testing.assert_close(second.compute()[group], value)
    engine = Engine(lambda engine, batch: {"y_pred": batch[0], "y": batch[1], "group_labels": batch[2]})
    DemographicParityDifference(groups=[0, 1, 2]).attach(engine, "parity")
    parity = DemographicParityDifference(groups=[0, 1, 2])
    parity.update((y_pred, y, groups))
    assert engine.run([(y_pred[:25], y[:25], groups[:25]), (y_pred[25:], y[25:], groups[25:])]).metrics[
        "parity"
    ] == pytest.approx(parity.compute())
