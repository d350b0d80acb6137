"""``PSNR``: the peak signal-to-noise ratio of images or signals (ignite's ``psnr`` module)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__ = ["PSNR"]


def check_same_kind(owner: str, y_pred: torch.Tensor, y: torch.Tensor) -> None:
    """One dtype and one shape for predictions and targets, or a clear error (as ignite, TypeError/ValueError)."""
    if y_pred.dtype != y.dtype:
        raise TypeError(
            f"{owner} expects y_pred and y of the same dtype, got {y_pred.dtype} and {y.dtype}. Convert one, e.g. "
            "y_pred.to(y.dtype)."
        )
    if y_pred.shape != y.shape:
        raise ValueError(
            f"{owner} expects y_pred and y of the same shape, got {tuple(y_pred.shape)} and {tuple(y.shape)}."
        )


class PSNR(Metric):
    """The mean over examples of ``PSNR = 10 · log10(data_range² / MSE)``, in decibels.

    Each example's mean squared error is taken over all its elements (computed in float64, as
    ignite); ``1e-10`` is added to it, so identical images give a finite value.

    Args:
        data_range: the range of the values, e.g. 1.0 for images in [0, 1] or 255 for 8-bit images.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    ``y_pred`` and ``y`` have one dtype and one shape ``(N, ...)``, e.g. ``(N, C, H, W)``.

    >>> import torch
    >>> psnr = PSNR(data_range=1.0)
    >>> psnr.update((torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 0.6)))
    >>> round(psnr.compute(), 4)  # MSE 0.01: 20 dB
    20.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_batchwise_psnr", "count": "_num_examples"}

    def __init__(
        self,
        data_range: float,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not math.isfinite(data_range):
            raise TypeError(f"PSNR data_range must be a number such as 1.0 or 255, got {data_range!r}.")
        if data_range <= 0:
            raise ValueError(f"PSNR data_range must be positive, got data_range={data_range}.")
        self.data_range = data_range
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's per-example PSNRs."""
        y_pred, y = self._unpack_pair(output)
        check_same_kind("PSNR", y_pred, y)
        if y.dim() < 2:
            raise ValueError(
                f"PSNR expects inputs of shape (N, ...) with each example's values after the batch dimension, got "
                f"{tuple(y.shape)}. Add the batch dimension, e.g. y.unsqueeze(0) for one example."
            )
        squared = torch.pow(y_pred.to(torch.float64) - y.to(torch.float64), 2)
        mse = squared.mean(dim=tuple(range(1, y.dim())))
        self.total += torch.sum(10.0 * torch.log10(self.data_range**2 / (mse + 1e-10)))
        self.count += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean PSNR in decibels."""
        if int(state["count"]) == 0:
            raise NotComputableError("PSNR must have at least one example before it can be computed.")
        return float((state["total"] / int(state["count"])).item())
