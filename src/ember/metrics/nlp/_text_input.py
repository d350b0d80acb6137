"""The input checks of the text metrics: candidates and their references as token sequences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["candidates_and_references"]


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def candidates_and_references(owner: str, output: Any) -> tuple[Sequence[Any], Sequence[Any]]:
    """``output`` as ``(candidates, references)``: one token sequence per candidate, a list of them per reference."""
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise ValueError(
            f"{owner} expects output (after output_transform) to be a pair (y_pred, y): candidates and their "
            f"references, got {type(output).__name__}."
        )
    candidates, references = output
    if not _is_sequence(candidates) or not _is_sequence(references):
        raise TypeError(
            f"{owner} takes y_pred as a list of token sequences and y as a list of lists of token sequences, got "
            f"{type(candidates).__name__} and {type(references).__name__}. Split sentences into tokens first, e.g. "
            "y_pred=[sentence.split()], y=[[reference.split()]]."
        )
    if len(candidates) != len(references):
        raise ValueError(
            f"{owner} got {len(candidates)} candidates and {len(references)} lists of references: give one list of "
            "references per candidate."
        )
    for candidate, refs in zip(candidates, references):
        tokens = (candidate, *refs) if _is_sequence(refs) else ()
        if not tokens or not all(isinstance(sequence, Sequence) for sequence in tokens):
            raise TypeError(
                f"{owner} takes each candidate as a token sequence and its references as a list of token sequences, "
                f"got {type(candidate).__name__} and {type(refs).__name__}. Wrap a single reference: y=[[reference]]."
            )
        if len(refs) == 0:
            raise ValueError(f"{owner} got a candidate without references: give each candidate at least one.")
    return candidates, references
