"""The text metrics: hand-computed values, the helpers of nlp.utils, bad inputs refused when fed."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ember.engine import Engine
from ember.exceptions import NotComputableError
from ember.metrics.nlp import Bleu, CharacterErrorRate, Perplexity, Rouge, RougeL, RougeN
from ember.metrics.nlp.utils import lcs, modified_precision, ngrams


def test_utils_count_ngrams_subsequences_and_clipped_matches() -> None:
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngrams(["a"], 2) == {}
    assert lcs("AGGTAB", "GXTXAYB") == 4
    assert lcs([], [1, 2]) == 0
    # "the" occurs 7 times in the candidate, at most twice in a reference: 2 of 7 (Papineni et al.'s example)
    candidate = ["the"] * 7
    assert modified_precision(
        [["the", "cat", "is", "on", "the", "mat"], ["there", "is", "a", "cat"]], candidate, 1
    ) == (
        2,
        7,
    )


def test_bleu_of_a_hand_worked_sentence() -> None:
    """Unigrams 3/4, bigrams 1/3; 4 tokens against a reference of 5: BP = exp(1 - 5/4)."""
    bleu = Bleu(ngram=2)
    bleu.update(([["a", "b", "c", "x"]], [[["a", "b", "d", "c", "e"]]]))
    expected = math.exp(1 - 5 / 4) * math.sqrt(3 / 4 * 1 / 3)
    assert bleu.compute().item() == pytest.approx(expected)


def test_rouge_l_of_a_hand_worked_sentence() -> None:
    rouge = RougeL(alpha=0.5)
    rouge.update(([list("abcde")], [[list("axcye")]]))  # LCS "ace": P = R = 3/5
    assert rouge.compute() == pytest.approx({"Rouge-L-P": 0.6, "Rouge-L-R": 0.6, "Rouge-L-F": 0.6})


def test_character_error_rate_and_perplexity_against_direct_formulas() -> None:
    cer = CharacterErrorRate()
    cer.update(("kitten", "sitting"))  # 3 edits over 7 reference characters
    cer.update((["flaw"], ["lawn"]))  # 2 edits over 4
    assert cer.compute() == pytest.approx(5 / 11)
    generator = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(4, 6, 3, generator=generator), torch.randint(0, 6, (4, 3), generator=generator)
    ppl = Perplexity()
    ppl.update((logits[:1], targets[:1]))
    ppl.update((logits[1:], targets[1:]))
    assert ppl.compute() == pytest.approx(math.exp(F.cross_entropy(logits, targets).item()), rel=1e-6)


@pytest.mark.parametrize(
    ("metric", "output", "error", "match"),
    [
        (Bleu(), ([1], [[[1]]]), TypeError, "token sequence"),
        (Bleu(), ([["a"]], [[["a"]], [["b"]]]), ValueError, "1 candidates and 2 lists"),
        (Bleu(), ([["a"]], [[]]), ValueError, "at least one"),
        (Rouge(), "a b", ValueError, "pair"),
        (RougeN(), (["a"], ["a"]), TypeError, "token sequence"),
        (CharacterErrorRate(), (["a"], ["a", "b"]), ValueError, "one reference per prediction"),
        (CharacterErrorRate(), ([1], ["a"]), TypeError, "strings"),
        (Perplexity(), (torch.randn(2, 5), torch.randint(0, 5, (2, 3))), ValueError, r"\(batch, vocab, seq_len\)"),
        (Perplexity(), (torch.randn(2, 5, 3), torch.rand(2, 3)), TypeError, "integer token ids"),
    ],
)
def test_bad_inputs_are_refused_at_update(metric: object, output: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        metric.update(output)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Bleu(ngram=0), "ngram"),
        (lambda: Bleu(smooth="smooth9"), "smooth"),
        (lambda: Bleu(average="weighted"), "macro"),
        (lambda: RougeN(ngram=0), "ngram"),
        (lambda: RougeL(alpha=2), "alpha"),
        (lambda: Rouge(multiref="worst"), "multiref"),
        (lambda: Rouge(variants=["X"]), "variants"),
    ],
)
def test_bad_arguments_are_refused_at_construction(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]


def test_all_padding_is_not_computable() -> None:
    ppl = Perplexity()
    ppl.update((torch.randn(1, 4, 2), torch.full((1, 2), -100)))
    with pytest.raises(NotComputableError, match="no token"):
        ppl.compute()


def test_attached_rouge_stores_each_key_and_the_dict() -> None:
    engine = Engine(lambda engine, batch: batch)
    RougeN(ngram=1).attach(engine, "rouge1")
    metrics = engine.run([([["a", "b"]], [[["a", "c"]]])]).metrics
    assert metrics["Rouge-1-R"] == 0.5 and metrics["rouge1"]["Rouge-1-P"] == 0.5
