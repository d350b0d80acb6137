"""Character error rate: edit distance over reference length (ignite's ``nlp.character_error_rate``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.metrics.metric import Metric

__all__ = ["CharacterErrorRate"]


def edit_distance(reference: str, prediction: str) -> int:
    """The Levenshtein distance: the fewest insertions, deletions and substitutions from one to the other.

    >>> edit_distance("kitten", "sitting")
    3
    """
    previous = list(range(len(prediction) + 1))
    for row, ref_char in enumerate(reference, start=1):
        current = [row]
        for column, pred_char in enumerate(prediction, start=1):
            current.append(
                min(previous[column] + 1, current[column - 1] + 1, previous[column - 1] + (ref_char != pred_char))
            )
        previous = current
    return previous[-1]


class CharacterErrorRate(Metric):
    """Total character edits (substitutions, deletions, insertions) over total reference characters.

    ``update((y_pred, y))`` takes predicted and reference strings: two strings, or two lists of
    strings of the same length. An empty reference set gives 0.0 without errors and 1.0 with.
    Totals are combined over ranks under ``torch.distributed``.

    Args:
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> cer = CharacterErrorRate()
    >>> cer.update((["the cat sat on the mat", "hello world"], ["the cat sat on mat", "hello world"]))
    >>> round(cer.compute(), 4)
    0.1379
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("totals", torch.zeros(2, dtype=torch.float64), reduction="sum")  # edits, reference characters
        self.totals: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's edits and reference characters."""
        if not isinstance(output, (tuple, list)) or len(output) != 2:
            raise ValueError("CharacterErrorRate expects output (after output_transform) to be a pair (y_pred, y).")
        predictions, references = output
        if isinstance(predictions, str) and isinstance(references, str):
            predictions, references = [predictions], [references]
        if not isinstance(predictions, (list, tuple)) or not isinstance(references, (list, tuple)):
            raise TypeError(
                f"CharacterErrorRate takes y_pred and y as strings or lists of strings, got "
                f"{type(predictions).__name__} and {type(references).__name__}."
            )
        if not all(isinstance(text, str) for text in (*predictions, *references)):
            raise TypeError("CharacterErrorRate takes lists of strings only; decode token ids to text first.")
        if len(predictions) != len(references):
            raise ValueError(
                f"CharacterErrorRate got {len(predictions)} predictions and {len(references)} references: "
                "give one reference per prediction."
            )
        edits = sum(edit_distance(reference, prediction) for prediction, reference in zip(predictions, references))
        characters = sum(len(reference) for reference in references)
        self.totals += torch.tensor([edits, characters], dtype=torch.float64, device=self.device)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """Edits over reference characters, over every update (of every rank)."""
        edits, characters = state["totals"].tolist()
        if characters == 0:
            return 0.0 if edits == 0 else 1.0
        return float(edits / characters)
