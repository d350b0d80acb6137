"""HitRate and NDCG: against scikit-learn's ndcg_score and a per-query loop, bad inputs refused."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import ndcg_score

from ember.exceptions import NotComputableError
from ember.metrics import NDCG, HitRate


def test_linear_ndcg_equals_scikit_learn() -> None:
    generator = torch.Generator().manual_seed(0)
    scores, relevance = torch.rand(40, 9, generator=generator), torch.randint(0, 4, (40, 9), generator=generator)
    for k in (1, 4, 9):
        metric = NDCG(top_k=[k], gain_function="linear_rank", ignore_zero_hits=False)
        metric.update((scores[:15], relevance[:15]))
        metric.update((scores[15:], relevance[15:]))
        assert metric.compute()[0] == pytest.approx(ndcg_score(relevance.numpy(), scores.numpy(), k=k))


def test_hit_rate_equals_a_per_query_loop() -> None:
    generator = torch.Generator().manual_seed(1)
    scores, relevance = torch.rand(30, 6, generator=generator), (torch.rand(30, 6, generator=generator) < 0.2).long()
    metric = HitRate(top_k=[3, 1])
    metric.update((scores, relevance))
    queries = [row for row in range(30) if relevance[row].any()]
    expected = []
    for k in (1, 3):
        best = [scores[row].argsort(descending=True)[:k] for row in queries]
        expected.append(sum(bool(relevance[row, items].any()) for row, items in zip(queries, best)) / len(queries))
    assert metric.compute() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: HitRate(top_k=0), ValueError, "positive integers"),
        (lambda: HitRate(top_k=[]), TypeError, "non-empty list"),
        (lambda: HitRate(top_k="5"), TypeError, "positive integer"),
        (lambda: NDCG(top_k=[2, -1]), ValueError, "positive integers"),
        (lambda: NDCG(top_k=[2], gain_function="log"), ValueError, "exp_rank"),
    ],
)
def test_bad_arguments_are_refused_at_construction(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]


@pytest.mark.parametrize("metric", [HitRate(top_k=2), NDCG(top_k=[2])])
def test_bad_shapes_are_refused_at_update(metric: HitRate | NDCG) -> None:
    with pytest.raises(ValueError, match="same shape"):
        metric.update((torch.rand(3, 4), torch.ones(3, 5)))
    with pytest.raises(ValueError, match=r"\(queries, items\)"):
        metric.update((torch.rand(4), torch.ones(4)))


def test_hit_rate_cut_off_beyond_the_items_says_so() -> None:
    with pytest.raises(ValueError, match="at least 5 items"):
        HitRate(top_k=[5]).update((torch.rand(2, 3), torch.ones(2, 3)))


def test_nothing_relevant_is_not_computable() -> None:
    metric = HitRate()
    metric.update((torch.rand(2, 3), torch.zeros(2, 3)))
    with pytest.raises(NotComputableError, match="ignore_zero_hits"):
        metric.compute()
