"""Regression metrics: mean squared error, mean absolute error, root mean squared error.

Inputs are ``(y_pred, y)`` pairs of the same shape ``(N, ...)``: ``N`` examples, each of which may
have several outputs. As ignite defines them, an example's error is summed over its outputs and
the sum is divided by the number of examples ``N`` (not by the number of elements): for targets of
shape ``(N, D)`` the value is ``D`` times scikit-learn's ``mean_squared_error`` on the flattened
arrays, and equal to it for ``(N,)``. A 0-dimensional pair counts as one example. Shapes that
differ only by dimensions of size 1 after the first, such as a one-output model's ``(N, 1)``
against targets ``(N,)``, pair the same ``N`` values (as ignite does); other shapes that differ are
an error, since pairing their elements in memory order would compare unrelated values. Sums are kept as
ignite keeps them, in torch's default float dtype (float32), so the values are ignite's to the last bit.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.metrics.metric import Metric

__all__ = ["MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError"]


def _same_but_unit_dimensions(y_pred: torch.Tensor, y: torch.Tensor) -> bool:
    """Shapes that differ only by dimensions of size 1 after the first, e.g. (N, 1) and (N,)."""
    if y_pred.dim() == 0 or y.dim() == 0 or y_pred.shape[0] != y.shape[0]:
        return False
    return [size for size in y_pred.shape[1:] if size != 1] == [size for size in y.shape[1:] if size != 1]


class _ErrorSum(Metric):
    """Sum of a function of the errors ``y_pred - y`` and the number of examples."""

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("error_sum", torch.tensor(0.0), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.error_sum: torch.Tensor
        self.count: torch.Tensor

    @abstractmethod
    def _errors(self, difference: torch.Tensor) -> torch.Tensor:
        """The per-element error from ``y_pred - y``."""

    def update(self, output: Any) -> None:
        """Add one batch's errors and its number of examples."""
        y_pred, y = self._unpack_pair(output)
        if y_pred.shape != y.shape and _same_but_unit_dimensions(y_pred, y):
            # A one-output model's (N, 1) against targets (N,), or the other way round: the same
            # N values, paired as ignite pairs them (y.view_as(y_pred)).
            y = y.reshape(y_pred.shape)
        elif y_pred.shape != y.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_pred and y of the same shape, got y_pred {tuple(y_pred.shape)} and "
                f"y {tuple(y.shape)}. Reshape one of them, e.g. y_pred.squeeze(-1) for a (N, 1) model output."
            )
        # The errors in the inputs' dtype, summed into a float32 total: ignite's order of operations.
        self.error_sum += self._errors(y_pred - y).sum()
        self.count += y.shape[0] if y.dim() > 0 else 1

    def _mean(self, state: Mapping[str, torch.Tensor]) -> float:
        return float(state["error_sum"]) / max(int(state["count"]), 1)


class MeanSquaredError(_ErrorSum):
    """The mean squared error: ``MSE = (1/N) · Σ_i Σ_d (y_pred[i, d] - y[i, d])²`` over N examples.

    For targets of shape ``(N,)`` this is the mean of the squared errors; for ``(N, D, ...)`` each
    example's squared errors are summed over its outputs (ignite's definition).

    >>> mse = MeanSquaredError()
    >>> mse.update((torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])))
    >>> mse.compute()
    2.0
    >>> mse.reset()
    >>> mse.update((torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])))  # one example, two outputs
    >>> mse.compute()
    5.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"error_sum": "_sum_of_squared_errors", "count": "_num_examples"}

    def _errors(self, difference: torch.Tensor) -> torch.Tensor:
        return torch.pow(difference, 2)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean squared error."""
        return self._mean(state)


class MeanAbsoluteError(_ErrorSum):
    """The mean absolute error: ``MAE = (1/N) · Σ_i Σ_d |y_pred[i, d] - y[i, d]|`` over N examples.

    >>> mae = MeanAbsoluteError()
    >>> mae.update((torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])))
    >>> mae.compute()
    1.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "error_sum": "_sum_of_absolute_errors",
        "count": "_num_examples",
    }

    def _errors(self, difference: torch.Tensor) -> torch.Tensor:
        return torch.abs(difference)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean absolute error."""
        return self._mean(state)


class RootMeanSquaredError(MeanSquaredError):
    """The square root of :class:`MeanSquaredError`: ``RMSE = sqrt(MSE)``.

    >>> rmse = RootMeanSquaredError()
    >>> rmse.update((torch.tensor([0.0, 0.0]), torch.tensor([3.0, 3.0])))
    >>> rmse.compute()
    3.0
    """

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The root mean squared error."""
        return math.sqrt(self._mean(state))
