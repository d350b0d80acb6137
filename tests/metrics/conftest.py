"""Shared hypothesis strategies for the metric tests: random data from a seed, split into batches."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import strategies as st


class Draws:
    """Makes reproducible random tensors and batch splits from hypothesis draws."""

    @staticmethod
    def generator(seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    @staticmethod
    def split(tensors: tuple[torch.Tensor, ...], cuts: list[int]) -> list[tuple[torch.Tensor, ...]]:
        """The same rows cut at ``cuts`` into consecutive batches (empty batches allowed)."""
        pieces = [tensor.tensor_split(sorted(cuts)) for tensor in tensors]
        return list(zip(*pieces))

    @staticmethod
    def cuts(size: int) -> st.SearchStrategy[list[int]]:
        return st.lists(st.integers(min_value=0, max_value=size), max_size=4)


@pytest.fixture(scope="session")
def draws() -> Any:
    """The :class:`Draws` helpers."""
    return Draws
