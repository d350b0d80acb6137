"""ember's HitRate and NDCG against pytorch-ignite 0.5.5's, on the same random queries and batch cuts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ignite.engine
import ignite.metrics
import pytest
import torch

import ember.engine
import ember.metrics
import ember.metrics.rec_sys

LIBRARIES = {"ignite": ignite.metrics, "ember": ember.metrics}
SEEDS = (0, 1, 2)
CUTS = ((), (2, 9, 10))
Data = tuple[torch.Tensor, torch.Tensor]


def binary_relevance(generator: torch.Generator) -> Data:
    scores = torch.rand(24, 8, generator=generator)
    return scores, (torch.rand(24, 8, generator=generator) < 0.2).long()


def graded_relevance(generator: torch.Generator) -> Data:
    """Relevances 0..3 as floats, some queries with nothing relevant."""
    return torch.randn(24, 6, generator=generator), torch.randint(0, 4, (24, 6), generator=generator).float() * (
        torch.rand(24, 1, generator=generator) < 0.8
    )


def tied_scores(generator: torch.Generator) -> Data:
    """Scores rounded to a few values: ties that NDCG breaks by the items' order."""
    return torch.randint(0, 3, (24, 7), generator=generator).float(), torch.randint(0, 3, (24, 7), generator=generator)


CASES: dict[str, tuple[Callable[[Any], Any], Callable[[torch.Generator], Data]]] = {
    "hitrate_default": (lambda lib: lib.HitRate(), binary_relevance),
    "hitrate_ks": (lambda lib: lib.HitRate(top_k=[5, 1, 3, 8]), binary_relevance),
    "hitrate_keep_zero": (lambda lib: lib.HitRate(top_k=[2, 4], ignore_zero_hits=False), graded_relevance),
    "ndcg_exp": (lambda lib: lib.NDCG(top_k=[1, 3, 6]), graded_relevance),
    "ndcg_linear": (lambda lib: lib.NDCG(top_k=[2, 5], gain_function="linear_rank"), graded_relevance),
    "ndcg_threshold": (lambda lib: lib.NDCG(top_k=[3], relevance_threshold=2.0), graded_relevance),
    "ndcg_keep_zero": (lambda lib: lib.NDCG(top_k=[4, 10], ignore_zero_hits=False), graded_relevance),
    "ndcg_ties": (lambda lib: lib.NDCG(top_k=[1, 2, 7]), tied_scores),
    "ndcg_binary": (lambda lib: lib.NDCG(top_k=[3, 8]), binary_relevance),
}


def outcome(make: Callable[[Any], Any], library: str, batches: list[Data]) -> Any:
    metric = make(LIBRARIES[library])
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
    expected, actual = outcome(make, "ignite", batches), outcome(make, "ember", batches)
    assert isinstance(actual, list) and len(actual) == len(expected)
    assert actual == expected  # ignite's float32 sums and arithmetic: the same floats, to the last bit


@pytest.mark.parametrize("library", ["ignite", "ember"])
def test_no_relevant_query_is_not_computable_in_both(library: str) -> None:
    metric = LIBRARIES[library].NDCG(top_k=[2])
    metric.update((torch.rand(3, 4), torch.zeros(3, 4)))
    with pytest.raises(Exception) as raised:
        metric.compute()
    assert type(raised.value).__name__ == "NotComputableError"


def test_attached_from_dict_outputs_publish_ignites_values() -> None:
    y_pred, y = graded_relevance(torch.Generator().manual_seed(7))
    data = [{"y_pred": y_pred[i : i + 5], "y": y[i : i + 5]} for i in range(0, 24, 5)]
    published = {}
    for library, engine_class in (("ignite", ignite.engine.Engine), ("ember", ember.engine.Engine)):
        engine = engine_class(lambda engine, batch: batch)
        LIBRARIES[library].HitRate(top_k=[1, 3]).attach(engine, "hit")
        LIBRARIES[library].NDCG(top_k=[2, 4]).attach(engine, "ndcg")
        published[library] = engine.run(data).metrics
    for name in ("hit", "ndcg"):
        assert published["ember"][name] == pytest.approx(published["ignite"][name], rel=1e-5)
    assert ember.metrics.rec_sys.HitRate is ember.metrics.HitRate
