"""``MaximumMeanDiscrepancy``: the kernel two-sample distance of two batches of features (ignite's module path)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.exceptions import NotComputableError
from ember.metrics._pairs import same_shape_floats
from ember.metrics.metric import Metric

__all__ = ["MaximumMeanDiscrepancy"]


def _gaussian_mean(first: torch.Tensor, second: torch.Tensor, variance: float) -> torch.Tensor:
    """The sum over all pairs (i, j) of ``exp(-‖first_i - second_j‖² / (2 variance))``."""
    squared = (first * first).sum(1).unsqueeze(1) + (second * second).sum(1).unsqueeze(0) - 2.0 * first @ second.T
    return torch.exp(-0.5 * squared / variance).sum()


class MaximumMeanDiscrepancy(Metric):
    """The maximum mean discrepancy (Gretton et al., 2012) with a Gaussian kernel, from per-batch estimates.

    Each batch of ``n`` rows ``x`` and ``y`` (shape ``(n, ...)``, flattened per row) adds the unbiased
    estimates of ``E k(x, x')`` and ``E k(y, y')`` and the estimate of ``E k(x, y)``; the value is
    ``sqrt(max(XX + YY - 2 XY, 0) / batches)`` over the sums of those estimates.

    Args:
        var: the kernel's variance ``var`` in ``k(a, b) = exp(-‖a - b‖² / (2 var))``.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    >>> metric = MaximumMeanDiscrepancy()
    >>> metric.update((x, x + 3.0))  # shifted
    >>> round(metric.compute(), 4)
    0.7699
    >>> metric.reset()
    >>> metric.update((x, x))  # the same sample
    >>> metric.compute()
    0.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {
        "xx_sum": "_xx_sum",
        "yy_sum": "_yy_sum",
        "xy_sum": "_xy_sum",
        "batches": "_num_batches",
    }

    def __init__(
        self,
        var: float = 1.0,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if isinstance(var, bool) or not isinstance(var, (int, float)) or not math.isfinite(var) or var <= 0:
            raise ValueError(f"MaximumMeanDiscrepancy var must be a positive number, got var={var!r}.")
        self.var = var
        super().__init__(output_transform, device, skip_unrolling)
        for name in ("xx_sum", "yy_sum", "xy_sum"):
            self.add_state(name, torch.tensor(0.0), reduction="sum")
        self.add_state("batches", torch.tensor(0), reduction="sum")
        self.xx_sum: torch.Tensor
        self.yy_sum: torch.Tensor
        self.xy_sum: torch.Tensor
        self.batches: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's kernel mean estimates."""
        x, y = self._unpack_pair(output)
        same_shape_floats("MaximumMeanDiscrepancy", x, y, 2, "(B, ...)")
        size = x.shape[0]
        if size < 2:
            raise ValueError(
                f"MaximumMeanDiscrepancy needs batches of at least 2 rows (its within-sample estimates use pairs), "
                f"got {size}. Use larger batches."
            )
        x, y = x.flatten(start_dim=1), y.flatten(start_dim=1)
        pairs = size * (size - 1)
        self.xx_sum += (_gaussian_mean(x, x, self.var) - size) / pairs
        self.yy_sum += (_gaussian_mean(y, y, self.var) - size) / pairs
        self.xy_sum += _gaussian_mean(x, y, self.var) / (size * size)
        self.batches += 1

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The discrepancy from the summed estimates."""
        batches = int(state["batches"])
        if batches == 0:
            raise NotComputableError("MaximumMeanDiscrepancy must have at least one batch before it can be computed.")
        squared = (state["xx_sum"] + state["yy_sum"] - 2.0 * state["xy_sum"]).clamp(min=0.0) / batches
        return float(squared.sqrt().item())
