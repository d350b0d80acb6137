"""n-gram counts, the longest common subsequence and BLEU's clipped precision (ignite's ``nlp.utils``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["lcs", "modified_precision", "ngrams"]


def ngrams(sequence: Sequence[Any], n: int) -> Counter[tuple[Any, ...]]:
    """How often each run of ``n`` consecutive tokens occurs in ``sequence``.

    >>> ngrams("abab", 2)
    Counter({('a', 'b'): 2, ('b', 'a'): 1})
    """
    return Counter(tuple(sequence[start : start + n]) for start in range(len(sequence) - n + 1))


def lcs(seq_a: Sequence[Any], seq_b: Sequence[Any]) -> int:
    """The length of the longest common subsequence of two sequences (not necessarily contiguous).

    >>> lcs("ABCBDAB", "BDCABA")
    4
    """
    previous = [0] * (len(seq_b) + 1)
    for item_a in seq_a:
        current = [0]
        for column, item_b in enumerate(seq_b):
            current.append(previous[column] + 1 if item_a == item_b else max(previous[column + 1], current[column]))
        previous = current
    return previous[-1]


def modified_precision(references: Sequence[Sequence[Any]], candidate: Sequence[Any], n: int) -> tuple[int, int]:
    """BLEU's clipped n-gram matches and the candidate's n-gram count: ``(matches, total)``.

    Each candidate n-gram counts at most as often as it occurs in the reference that has it most.

    >>> modified_precision([["the", "cat"], ["a", "cat"]], ["the", "the", "cat"], 1)
    (2, 3)
    """
    candidate_counts = ngrams(candidate, n)
    most_in_a_reference: Counter[tuple[Any, ...]] = Counter()
    for reference in references:
        most_in_a_reference |= ngrams(reference, n)
    clipped = candidate_counts & most_in_a_reference
    return sum(clipped.values()), sum(candidate_counts.values())
