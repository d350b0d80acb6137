"""Regression metrics: mean squared error, mean absolute error, root mean squared error.

Inputs are ``(y_pred, y)`` pairs of the same shape; every element counts as one value (a
multi-output target of shape ``(N, D)`` gives the mean over all ``N·D`` errors). Sums are kept in
float64, so long runs do not lose precision.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.metrics.metric import Metric

__all__ = ["MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError"]


class _ErrorSum(Metric):
    """Sum of a function of the errors ``y_pred - y`` and the number of elements."""

    def __init__(
        self, output_transform: Callable[[Any], Any] | None = None, device: str | torch.device = "cpu"
    ) -> None:
        super().__init__(output_transform, device)
        self.add_state("error_sum", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.error_sum: torch.Tensor
        self.count: torch.Tensor

    @abstractmethod
    def _errors(self, difference: torch.Tensor) -> torch.Tensor:
        """The per-element error from ``y_pred - y``."""

    def update(self, output: Any) -> None:
        """Add one batch's errors."""
        y_pred, y = self._unpack_pair(output)
        if y_pred.shape != y.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_pred and y of the same shape, got y_pred {tuple(y_pred.shape)} and "
                f"y {tuple(y.shape)}. Reshape one of them, e.g. y_pred.squeeze(-1) for a (N, 1) model output."
            )
        self.error_sum += self._errors(y_pred.double() - y.double()).sum()
        self.count += y.numel()

    def _mean(self, state: Mapping[str, torch.Tensor]) -> float:
        return float(state["error_sum"]) / max(int(state["count"]), 1)


class MeanSquaredError(_ErrorSum):
    """The mean of ``(y_pred - y)²`` over every element seen.

    >>> mse = MeanSquaredError()
    >>> mse.update((torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])))
    >>> mse.compute()
    2.0
    """

    def _errors(self, difference: torch.Tensor) -> torch.Tensor:
        return difference.square()

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean squared error."""
        return self._mean(state)


class MeanAbsoluteError(_ErrorSum):
    """The mean of ``|y_pred - y|`` over every element seen.

    >>> mae = MeanAbsoluteError()
    >>> mae.update((torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])))
    >>> mae.compute()
    1.0
    """

    def _errors(self, difference: torch.Tensor) -> torch.Tensor:
        return difference.abs()

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean absolute error."""
        return self._mean(state)


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the mean squared error.

    >>> rmse = RootMeanSquaredError()
    >>> rmse.update((torch.tensor([0.0, 0.0]), torch.tensor([3.0, 3.0])))
    >>> rmse.compute()
    3.0
    """

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The root mean squared error."""
        return math.sqrt(self._mean(state))
