"""ROUGE-N and ROUGE-L recall, precision and F-measure, with several references (ignite's ``nlp.rouge``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric
from ember.metrics.nlp._text_input import candidates_and_references
from ember.metrics.nlp.utils import lcs, ngrams

__all__ = ["Rouge", "RougeL", "RougeN"]

_MULTIREF = ("average", "best")


class _Overlap(NamedTuple):
    """What a candidate shares with a reference, and how long each is (in n-grams or tokens)."""

    match: int
    candidate: int
    reference: int

    def precision(self) -> float:
        return self.match / self.candidate if self.candidate > 0 else 0.0

    def recall(self) -> float:
        return self.match / self.reference if self.reference > 0 else 0.0


def _overlap(variant: int | str, candidate: Sequence[Any], reference: Sequence[Any]) -> _Overlap:
    if variant == "L":
        return _Overlap(lcs(candidate, reference), len(candidate), len(reference))
    assert isinstance(variant, int)  # checked in _Rouge.__init__
    candidate_grams, reference_grams = ngrams(candidate, variant), ngrams(reference, variant)
    shared = candidate_grams & reference_grams
    return _Overlap(sum(shared.values()), sum(candidate_grams.values()), sum(reference_grams.values()))


def _check_variant(variant: Any) -> int | str:
    if variant == "L" or (isinstance(variant, int) and not isinstance(variant, bool) and variant >= 1):
        return variant  # type: ignore[no-any-return]
    raise ValueError(f"Rouge variants must be 'L' or n-gram orders >= 1, got {variant!r}, e.g. variants=[1, 2, 'L'].")


class _Rouge(Metric):
    """The shared machinery: per variant, the sums of precision, recall and F over the candidates."""

    def __init__(
        self,
        variants: Sequence[int | str],
        multiref: str,
        alpha: float,
        output_transform: Callable[[Any], Any] | None,
        device: str | torch.device,
    ) -> None:
        name = type(self).__name__
        if multiref not in _MULTIREF:
            raise ValueError(
                f"{name} multiref must be 'average' (pool all references) or 'best' (the reference of highest "
                f"recall), got {multiref!r}."
            )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"{name} alpha must be a number in [0, 1], got {alpha!r}.")
        self._variants = [_check_variant(variant) for variant in variants]
        self._multiref = multiref
        self._alpha = float(alpha)
        super().__init__(output_transform, device)
        # per variant: precision, recall and F summed over the candidates
        self.add_state("sums", torch.zeros(len(self._variants), 3, dtype=torch.float64), reduction="sum")
        self.add_state("candidates", torch.tensor(0), reduction="sum")
        self.sums: torch.Tensor
        self.candidates: torch.Tensor

    def _scores(self, variant: int | str, candidate: Sequence[Any], references: Sequence[Any]) -> list[float]:
        overlaps = [_overlap(variant, candidate, reference) for reference in references]
        if self._multiref == "average":
            overlap = _Overlap(*(sum(values) for values in zip(*overlaps)))
        else:
            overlap = max(overlaps, key=_Overlap.recall)
        precision, recall = overlap.precision(), overlap.recall()
        both = precision * recall
        fmeasure = both / ((1 - self._alpha) * precision + self._alpha * recall) if both > 0 else 0.0
        return [precision, recall, fmeasure]

    def update(self, output: Any) -> None:
        """Add one batch: ``y_pred`` a list of candidates, ``y`` each candidate's list of references."""
        candidates, references = candidates_and_references(type(self).__name__, output)
        for candidate, refs in zip(candidates, references):
            scores = [self._scores(variant, candidate, refs) for variant in self._variants]
            self.sums += torch.tensor(scores, dtype=torch.float64, device=self.device)
            self.candidates += 1

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """``{"Rouge-<n or L>-P": ..., "-R": ..., "-F": ...}`` per variant: means over the candidates."""
        count = int(state["candidates"])
        if count == 0:
            raise NotComputableError(f"{type(self).__name__} needs at least one candidate before compute().")
        values: dict[str, float] = {}
        for variant, sums in zip(self._variants, (state["sums"] / count).tolist()):
            for letter, value in zip("PRF", sums):
                values[f"Rouge-{variant}-{letter}"] = value
        return values


class RougeN(_Rouge):
    """ROUGE-N: the n-grams a candidate shares with its references, as precision, recall and F.

    ``update((y_pred, y))`` takes candidates (token sequences) and each candidate's references
    (a list of token sequences). With several references, ``multiref="average"`` pools their
    counts and ``"best"`` takes the reference of highest recall. The F-measure is
    ``P·R / ((1 - alpha)·P + alpha·R)``. ``compute()`` returns the means over candidates,
    ``{"Rouge-<n>-P": ..., "Rouge-<n>-R": ..., "Rouge-<n>-F": ...}``; attached, each key is also
    stored in ``engine.state.metrics``.

    Args:
        ngram: the n-gram order (default 4).
        multiref: ``"average"`` or ``"best"``.
        alpha: the F-measure's weight, in ``[0, 1]``.
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> rouge = RougeN(ngram=2, multiref="best")
    >>> rouge.update(([["the", "cat", "sat"]], [[["the", "cat", "sat", "down"], ["a", "cat", "sat"]]]))
    >>> rouge.compute()
    {'Rouge-2-P': 1.0, 'Rouge-2-R': 0.6666666666666666, 'Rouge-2-F': 0.6666666666666666}
    """

    def __init__(
        self,
        ngram: int = 4,
        multiref: str = "average",
        alpha: float = 0,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < 1:
            raise ValueError(f"RougeN ngram must be an integer >= 1, got {ngram!r}.")
        super().__init__([ngram], multiref, alpha, output_transform, device)


class RougeL(_Rouge):
    """ROUGE-L: the longest common subsequence of a candidate and its references, as P, R and F.

    Inputs and arguments as :class:`RougeN` (without ``ngram``); the keys are ``"Rouge-L-P"``,
    ``"Rouge-L-R"`` and ``"Rouge-L-F"``.

    >>> rouge = RougeL(alpha=0.5)
    >>> rouge.update(([["a", "b", "c", "d"]], [[["a", "c", "d", "e", "f"]]]))
    >>> {key: round(value, 4) for key, value in rouge.compute().items()}
    {'Rouge-L-P': 0.75, 'Rouge-L-R': 0.6, 'Rouge-L-F': 0.6667}
    """

    def __init__(
        self,
        multiref: str = "average",
        alpha: float = 0,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(["L"], multiref, alpha, output_transform, device)


class Rouge(_Rouge):
    """Several ROUGE variants at once: ``variants`` lists n-gram orders and ``"L"`` (default ``[1, 2, 4, "L"]``).

    ``compute()`` returns the keys of each variant (see :class:`RougeN`, :class:`RougeL`) in one dict.

    >>> from ember.engine import Engine
    >>> evaluator = Engine(lambda engine, batch: batch)
    >>> Rouge(variants=["L", 2], multiref="best").attach(evaluator, "rouge")
    >>> candidate = "the cat was found under the bed".split()
    >>> references = ["the cat was under the bed".split(), "the tiny cat was found under the big bed".split()]
    >>> metrics = evaluator.run([([candidate], [references])]).metrics
    >>> round(metrics["Rouge-L-R"], 4), round(metrics["Rouge-2-R"], 4), sorted(metrics["rouge"])[:2]
    (1.0, 0.8, ['Rouge-2-F', 'Rouge-2-P'])
    """

    def __init__(
        self,
        variants: Sequence[str | int] | None = None,
        multiref: str = "average",
        alpha: float = 0,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(list(variants) if variants else [1, 2, 4, "L"], multiref, alpha, output_transform, device)
