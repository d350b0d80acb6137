"""BLEU, sentence-averaged or corpus-level, with ignite's smoothing choices (ignite's ``nlp.bleu``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric
from ember.metrics.nlp._text_input import candidates_and_references
from ember.metrics.nlp.utils import modified_precision

__all__ = ["Bleu"]

_SMOOTHING = ("no_smooth", "smooth1", "nltk_smooth2", "smooth2")
_AVERAGES = ("macro", "micro")


def _closest_length(references: Sequence[Sequence[Any]], length: int) -> int:
    """The reference length closest to ``length``, the shorter one on a tie."""
    return min((len(reference) for reference in references), key=lambda ref: (abs(ref - length), ref))


def _smoothed(method: str, matches: list[float], totals: list[float]) -> list[float]:
    """The n-gram precisions (n = 1, 2, ...) after smoothing (Chen & Cherry's methods 1 and 2)."""
    floored = [max(1.0, total) for total in totals]
    if method == "no_smooth":
        return [match / total for match, total in zip(matches, floored)]
    if method == "smooth1":  # a zero count becomes 0.1
        return [(match or 0.1) / total for match, total in zip(matches, floored)]
    # smooth2 adds one to numerator and denominator from the bigrams on; nltk's form floors the totals at 1 first
    base = floored if method == "nltk_smooth2" else totals
    return [matches[0] / base[0]] + [(match + 1) / (total + 1) for match, total in zip(matches[1:], base[1:])]


class Bleu(Metric):
    """The BLEU score of candidate sentences against their references (Papineni et al., 2002).

    ``update((y_pred, y))`` takes ``y_pred``, a list of candidates (token sequences), and ``y``,
    a list with each candidate's references (a list of token sequences). The score is the
    geometric mean of the clipped 1- to ``ngram``-gram precisions times the brevity penalty.
    ``average="macro"`` averages each sentence's BLEU (``compute()`` returns a 0-dimensional
    float64 tensor, as ignite's); ``"micro"`` pools the counts of all sentences (corpus BLEU, a
    float). Sums are combined over ranks under ``torch.distributed``.

    Args:
        ngram: the largest n-gram order (default 4).
        smooth: ``"no_smooth"``, ``"smooth1"``, ``"nltk_smooth2"`` or ``"smooth2"`` (Chen & Cherry, 2014).
        output_transform, device: see :class:`~ember.metrics.Metric`.
        average: ``"macro"`` or ``"micro"``.

    >>> bleu = Bleu(ngram=4, smooth="smooth1")
    >>> y_pred = "the the the the the the the".split()
    >>> y = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    >>> bleu.update(([y_pred], [y]))
    >>> round(bleu.compute().item(), 4)
    0.0393
    """

    def __init__(
        self,
        ngram: int = 4,
        smooth: str = "no_smooth",
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        average: str = "macro",
    ) -> None:
        if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram <= 0:
            raise ValueError(f"Bleu ngram must be a positive integer, got {ngram!r}; BLEU-4 is ngram=4.")
        if smooth not in _SMOOTHING:
            raise ValueError(f"Bleu smooth must be one of {list(_SMOOTHING)}, got {smooth!r}.")
        if average not in _AVERAGES:
            raise ValueError(
                f"Bleu average must be 'macro' (mean of sentence scores) or 'micro' (corpus BLEU), got {average!r}."
            )
        self.ngrams_order = ngram
        self.smooth = smooth
        self.average = average
        super().__init__(output_transform, device)
        self.add_state("score_sum", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("sentences", torch.tensor(0), reduction="sum")
        self.add_state("matches", torch.zeros(ngram, dtype=torch.float64), reduction="sum")
        self.add_state("totals", torch.zeros(ngram, dtype=torch.float64), reduction="sum")
        self.add_state("lengths", torch.zeros(2, dtype=torch.float64), reduction="sum")  # candidates, references
        self.score_sum: torch.Tensor
        self.sentences: torch.Tensor
        self.matches: torch.Tensor
        self.totals: torch.Tensor
        self.lengths: torch.Tensor

    def _counts(self, references: Sequence[Sequence[Any]], candidate: Sequence[Any]) -> tuple[list[int], list[int]]:
        pairs = [modified_precision(references, candidate, n) for n in range(1, self.ngrams_order + 1)]
        return [match for match, _ in pairs], [total for _, total in pairs]

    def _score(
        self, matches: list[float], totals: list[float], candidate_length: float, reference_length: float
    ) -> float:
        if matches[0] == 0 or (self.smooth == "no_smooth" and min(matches) == 0):
            return 0.0
        if candidate_length >= reference_length:
            brevity = 1.0
        else:
            brevity = math.exp(1 - reference_length / candidate_length) if candidate_length > 0 else 0.0
        precisions = _smoothed(self.smooth, matches, totals)
        return brevity * math.exp(math.fsum(math.log(p) / self.ngrams_order for p in precisions))

    def update(self, output: Any) -> None:
        """Score (or count) one batch of candidates against their references."""
        candidates, references = candidates_and_references("Bleu", output)
        for candidate, refs in zip(candidates, references):
            matches, totals = self._counts(refs, candidate)
            reference_length = _closest_length(refs, len(candidate))
            if self.average == "macro":
                self.score_sum += self._score(
                    [float(m) for m in matches], [float(t) for t in totals], len(candidate), reference_length
                )
            else:
                self.matches += torch.tensor(matches, dtype=torch.float64, device=self.device)
                self.totals += torch.tensor(totals, dtype=torch.float64, device=self.device)
                self.lengths += torch.tensor(
                    [len(candidate), reference_length], dtype=torch.float64, device=self.device
                )
            self.sentences += 1

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> torch.Tensor | float:
        """The mean sentence BLEU (macro, a tensor) or the corpus BLEU (micro, a float)."""
        if self.average == "macro":
            if int(state["sentences"]) == 0:
                raise NotComputableError("Bleu needs at least one sentence before compute() can give a value.")
            return state["score_sum"] / state["sentences"]
        candidate_length, reference_length = state["lengths"].tolist()
        return self._score(state["matches"].tolist(), state["totals"].tolist(), candidate_length, reference_length)
