"""ember's text metrics (BLEU, ROUGE, character error rate, perplexity) against pytorch-ignite 0.5.5's.

Random sentences over a small vocabulary (so that n-grams repeat and overlap), one to three references
each, fed to both libraries in the same batches; the values must agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import ignite.engine
import ignite.metrics
import ignite.metrics.nlp
import pytest
import torch

import ember.engine
import ember.metrics
import ember.metrics.nlp

LIBRARIES = {"ignite": ignite.metrics.nlp, "ember": ember.metrics.nlp}
SEEDS = (0, 1, 2)
CUTS = ((), (1, 6, 7))
VOCABULARY = ["the", "cat", "sat", "on", "mat", "a", "dog"]


def sentence(generator: torch.Generator, shortest: int = 0) -> list[str]:
    length = int(torch.randint(shortest, 11, (1,), generator=generator))
    return [VOCABULARY[int(i)] for i in torch.randint(0, len(VOCABULARY), (length,), generator=generator)]


def translations(generator: torch.Generator) -> tuple[list[Any], list[Any]]:
    candidates, references = [], []
    for _ in range(12):
        candidates.append(sentence(generator, shortest=1))
        references.append(
            [sentence(generator, shortest=1) for _ in range(int(torch.randint(1, 4, (1,), generator=generator)))]
        )
    return candidates, references


def with_empty_sentences(generator: torch.Generator) -> tuple[list[Any], list[Any]]:
    candidates, references = translations(generator)
    candidates[3], references[5][0] = [], []
    return candidates, references


def texts(generator: torch.Generator) -> tuple[list[str], list[str]]:
    pairs = [(" ".join(sentence(generator)), " ".join(sentence(generator))) for _ in range(12)]
    return [prediction for prediction, _ in pairs], [reference for _, reference in pairs]


def logits(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.randint(0, 9, (12, 5), generator=generator)
    y[torch.rand(12, 5, generator=generator) < 0.2] = -100
    return torch.randn(12, 9, 5, generator=generator) * 2, y


def padded_with_zero(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    y_pred, y = logits(generator)
    return y_pred, torch.where(y < 0, 0, y)


Data = Callable[[torch.Generator], tuple[Any, Any]]
CASES: dict[str, tuple[Callable[[Any], Any], Data]] = {}
for smooth in ("no_smooth", "smooth1", "nltk_smooth2", "smooth2"):
    for average in ("macro", "micro"):
        CASES[f"bleu_{smooth}_{average}"] = (
            lambda lib, smooth=smooth, average=average: lib.Bleu(smooth=smooth, average=average),
            translations,
        )
    CASES[f"bleu2_{smooth}_empty"] = (lambda lib, smooth=smooth: lib.Bleu(ngram=2, smooth=smooth), with_empty_sentences)
for multiref in ("average", "best"):
    for alpha in (0.0, 0.5, 1.0):
        CASES[f"rouge_l_{multiref}_{alpha}"] = (
            lambda lib, multiref=multiref, alpha=alpha: lib.RougeL(multiref=multiref, alpha=alpha),
            translations,
        )
        CASES[f"rouge_2_{multiref}_{alpha}"] = (
            lambda lib, multiref=multiref, alpha=alpha: lib.RougeN(ngram=2, multiref=multiref, alpha=alpha),
            translations,
        )
CASES["rouge_default"] = (lambda lib: lib.Rouge(), with_empty_sentences)
CASES["rouge_variants"] = (lambda lib: lib.Rouge(variants=["L", 1, 3], multiref="best", alpha=0.3), translations)
CASES["cer"] = (lambda lib: lib.CharacterErrorRate(), texts)
CASES["perplexity"] = (lambda lib: lib.Perplexity(), logits)
CASES["perplexity_pad_0"] = (lambda lib: lib.Perplexity(ignore_index=0), padded_with_zero)


def cut(values: Any, cuts: tuple[int, ...]) -> list[Any]:
    bounds = [0, *cuts, len(values)]
    return [values[start:stop] for start, stop in itertools.pairwise(bounds)]


def value_of(make: Callable[[Any], Any], library: str, batches: list[tuple[Any, Any]]) -> Any:
    metric = make(LIBRARIES[library])
    for batch in batches:
        metric.update(batch)
    return metric.compute()


def number(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cuts", CUTS, ids=["one_batch", "uneven"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_ember_matches_ignite(case: str, cuts: tuple[int, ...], seed: int) -> None:
    make, data = CASES[case]
    y_pred, y = data(torch.Generator().manual_seed(seed))
    batches = list(zip(cut(y_pred, cuts), cut(y, cuts)))
    expected, actual = value_of(make, "ignite", batches), value_of(make, "ember", batches)
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12)
    else:
        assert isinstance(actual, torch.Tensor) == isinstance(expected, torch.Tensor)
        assert number(actual) == pytest.approx(number(expected), rel=1e-5, abs=1e-7)


def test_attached_text_metrics_publish_ignites_values() -> None:
    candidates, references = translations(torch.Generator().manual_seed(3))
    data = [(candidates[i : i + 5], references[i : i + 5]) for i in range(0, 12, 5)]
    published = {}
    for library, engine_class in (("ignite", ignite.engine.Engine), ("ember", ember.engine.Engine)):
        engine = engine_class(lambda engine, batch: batch)
        LIBRARIES[library].Bleu(ngram=3, smooth="smooth1").attach(engine, "bleu")
        LIBRARIES[library].Rouge(variants=[1, "L"]).attach(engine, "rouge")
        published[library] = engine.run(data).metrics
    assert sorted(published["ember"]) == sorted(published["ignite"])
    assert published["ember"]["bleu"] == pytest.approx(published["ignite"]["bleu"], rel=1e-6)
    assert published["ember"]["rouge"] == pytest.approx(published["ignite"]["rouge"])
    assert ember.metrics.nlp.Bleu is ember.metrics.Bleu
