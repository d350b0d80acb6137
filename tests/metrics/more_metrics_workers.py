"""Code run in each process of the 2-process test of ignite's long-tail metrics (importable by spawned processes).

Each builder returns ``{name: (metric factory, batch maker)}``; a batch maker turns a slice of rows of
one fixed random dataset into a metric input. Rank 0 gets the rows [0, SHARD_END), rank 1 the rest,
in batches of different sizes: uneven shards, uneven batch counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import ember.metrics as metrics
import ember.metrics.clustering as clustering
import ember.metrics.fairness as fairness
import ember.metrics.regression as regression
from ember import distributed

SIZE = 29
SHARD_END = 11
Rows = slice
Entry = tuple[Callable[[], Any], Callable[[Rows], Any]]


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(5)


def _regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = _generator()
    return (torch.rand(SIZE, generator=generator) + 0.2, torch.rand(SIZE, generator=generator) + 0.2)


def regression_entries() -> dict[str, Entry]:
    y_pred, y = _regression_data()

    def pair(rows: Rows) -> Any:
        return y_pred[rows], y[rows]

    names = [name for name in regression.__all__ if name[0].isupper()]
    return {name: (getattr(regression, name), pair) for name in names}


def long_tail_entries() -> dict[str, Entry]:
    generator = _generator()
    x, y = torch.randn(SIZE, 4, generator=generator), torch.randn(SIZE, 4, generator=generator)
    images = torch.rand(SIZE, 2, 3, 3, generator=generator)

    def pair(rows: Rows) -> Any:
        return x[rows], y[rows]

    def spatial(rows: Rows) -> Any:
        return images[rows], images[rows].flip(1)

    return {
        "CosineSimilarity": (metrics.CosineSimilarity, pair),
        "MeanPairwiseDistance": (lambda: metrics.MeanPairwiseDistance(p=3), pair),
        "Entropy": (metrics.Entropy, spatial),
        "MutualInformation": (metrics.MutualInformation, pair),
        "KLDivergence": (metrics.KLDivergence, spatial),
        "JSDivergence": (metrics.JSDivergence, pair),
        "HSIC": (metrics.HSIC, lambda rows: (x[rows], torch.sin(x[rows]) + 0.1 * y[rows])),
        "MaximumMeanDiscrepancy": (metrics.MaximumMeanDiscrepancy, lambda rows: (x[rows], y[rows] + 0.5)),
        "PSNR": (lambda: metrics.PSNR(data_range=1.0), spatial),
        "SSIM": (lambda: metrics.SSIM(data_range=1.0, kernel_size=3), spatial),
        "MetricGroup": (
            lambda: metrics.MetricGroup({"mse": metrics.MeanSquaredError(), "cos": metrics.CosineSimilarity()}),
            pair,
        ),
    }


def clustering_fairness_entries() -> dict[str, Entry]:
    generator = _generator()
    labels = torch.randint(0, 3, (SIZE,), generator=generator)
    features = labels.unsqueeze(1).float() + torch.randn(SIZE, 2, generator=generator)
    scores = torch.randn(SIZE, 3, generator=generator)
    groups = torch.randint(0, 2, (SIZE,), generator=generator)
    binary = torch.randint(0, 2, (SIZE, 3), generator=generator)

    def clusters(rows: Rows) -> Any:
        return features[rows], labels[rows]

    def scored(rows: Rows) -> Any:
        return scores[rows], labels[rows], groups[rows]

    return {
        "SilhouetteScore": (clustering.SilhouetteScore, clusters),
        "DaviesBouldinScore": (clustering.DaviesBouldinScore, clusters),
        "CalinskiHarabaszScore": (clustering.CalinskiHarabaszScore, clusters),
        "SubgroupMetric": (lambda: fairness.SubgroupMetric(metrics.Accuracy(), groups=[0, 1]), scored),
        "SubgroupAccuracyDifference": (lambda: fairness.SubgroupAccuracyDifference(groups=[0, 1]), scored),
        "DemographicParityDifference": (lambda: fairness.DemographicParityDifference(groups=[0, 1]), scored),
        "SelectionRate multilabel": (
            lambda: fairness.SelectionRate(is_multilabel=True),
            lambda rows: (binary[rows], binary[rows]),
        ),
    }


def entries() -> dict[str, Entry]:
    """Every metric the test covers."""
    return {**regression_entries(), **long_tail_entries(), **clustering_fairness_entries()}


def run(rows: Rows, batch_size: int, only: list[str] | None = None) -> dict[str, Any]:
    """Feed ``rows`` in batches of ``batch_size`` to every metric; the computed values (tensors as lists)."""
    values: dict[str, Any] = {}
    for name, (make, batch_of) in entries().items():
        if only is not None and name not in only:
            continue
        metric = make()
        for start in range(rows.start, rows.stop, batch_size):
            metric.update(batch_of(slice(start, min(start + batch_size, rows.stop))))
        value = metric.compute()
        values[name] = value.tolist() if isinstance(value, torch.Tensor) else value
    return values


# Metrics whose value is a mean of per-batch estimates: they depend on how rows are cut into batches.
BATCH_WISE: list[str] = ["HSIC", "MaximumMeanDiscrepancy"]


def run_as_ranks_batch(names: list[str]) -> dict[str, Any]:
    """One process fed the batches of rank 0 then those of rank 1 (for the per-batch estimates)."""
    values: dict[str, Any] = {}
    for name in names:
        make, batch_of = entries()[name]
        metric = make()
        for rows, size in ((slice(0, SHARD_END), 4), (slice(SHARD_END, SIZE), 5)):
            for start in range(rows.start, rows.stop, size):
                metric.update(batch_of(slice(start, min(start + size, rows.stop))))
        value = metric.compute()
        values[name] = value.tolist() if isinstance(value, torch.Tensor) else value
    return values


def on_each_rank(local_rank: int) -> dict[str, Any]:
    shard = slice(0, SHARD_END) if local_rank == 0 else slice(SHARD_END, SIZE)
    values = run(shard, batch_size=4 + local_rank)
    # Rank 0 sees no batch: the class-probability sums of rank 1 alone make the value.
    values["MutualInformation, empty rank 0"] = run(
        slice(SHARD_END, SHARD_END + local_rank * 9), 4, ["MutualInformation"]
    )
    # Throughput is timing: every rank must get the same (combined) value.
    frequency = metrics.Frequency()
    frequency.update(10 * (local_rank + 1))
    values["Frequency on both ranks"] = distributed.all_gather(frequency.compute())
    return values
