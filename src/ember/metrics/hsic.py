"""``HSIC``: the Hilbert-Schmidt independence criterion of two batches of features (ignite's ``hsic`` module)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from ember.exceptions import NotComputableError
from ember.metrics._pairs import floating
from ember.metrics.metric import Metric

__all__ = ["HSIC"]


def _squared_distances(rows: torch.Tensor) -> torch.Tensor:
    """``‖r_i - r_j‖²`` for every pair of rows, from the Gram matrix."""
    gram = rows @ rows.T
    norms = gram.diagonal()
    return norms.unsqueeze(1) + norms.unsqueeze(0) - 2 * gram


def _gaussian_kernel(rows: torch.Tensor, sigma: float) -> torch.Tensor:
    """The Gaussian kernel matrix with a zero diagonal; ``sigma < 0`` takes the median squared distance as σ²."""
    distances = _squared_distances(rows)
    variance = torch.quantile(distances, 0.5) if sigma < 0 else sigma**2
    kernel = torch.exp(-0.5 * distances / variance)
    return kernel * (1.0 - torch.eye(rows.shape[0], device=rows.device, dtype=kernel.dtype))


class HSIC(Metric):
    """The unbiased HSIC estimator (Song et al., 2012) of each batch, averaged over the batches.

    For a batch of ``B`` feature rows ``X`` and ``Y`` (shape ``(B, ...)``, flattened per row), with
    Gaussian kernel matrices ``K`` and ``L`` whose diagonals are set to 0::

        HSIC = [tr(KL) + 1ᵀK1 · 1ᵀL1 / ((B-1)(B-2)) - 2/(B-2) · 1ᵀKL1] / (B(B-3))

    clamped at 0. The value depends on how the data is cut into batches (as in ignite).

    Args:
        sigma_x, sigma_y: the kernels' bandwidths; a negative value (default) takes the median of the
            batch's squared pairwise distances as σ².
        ignore_invalid_batch: skip batches of 3 rows or fewer (the estimator needs 4); False makes
            them a ``ValueError``.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    >>> metric = HSIC()
    >>> metric.update((x, 2 * x))  # dependent
    >>> round(metric.compute(), 4)
    0.031
    >>> metric.reset()
    >>> metric.update((x, torch.randn(16, 3, generator=torch.Generator().manual_seed(1))))  # independent
    >>> round(metric.compute(), 4)
    0.0001
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_hsic", "batches": "_num_batches"}

    def __init__(
        self,
        sigma_x: float = -1,
        sigma_y: float = -1,
        ignore_invalid_batch: bool = True,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        for name, sigma in (("sigma_x", sigma_x), ("sigma_y", sigma_y)):
            if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma == 0:
                raise ValueError(
                    f"HSIC {name} must be a positive bandwidth, or negative for the median heuristic, got {sigma!r}."
                )
        self.sigma_x = sigma_x
        self.sigma_y = sigma_y
        self.ignore_invalid_batch = ignore_invalid_batch
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0), reduction="sum")
        self.add_state("batches", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.batches: torch.Tensor

    def update(self, output: Any) -> None:
        """Add one batch's HSIC estimate (or skip a batch of 3 rows or fewer)."""
        x, y = self._unpack_pair(output)
        if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"HSIC expects X and Y of shapes (B, ...) with the same B, got {tuple(x.shape)} and {tuple(y.shape)}."
            )
        floating("HSIC", "X (y_pred)", x)
        floating("HSIC", "Y (y)", y)
        size = x.shape[0]
        if size <= 3:
            if self.ignore_invalid_batch:
                return
            raise ValueError(
                f"HSIC needs batches of at least 4 rows, got {size}. Use larger batches, or pass "
                "ignore_invalid_batch=True to skip the small ones."
            )
        k = _gaussian_kernel(x.flatten(start_dim=1), self.sigma_x)
        l_ = _gaussian_kernel(y.flatten(start_dim=1), self.sigma_y)
        kl = k @ l_
        estimate = kl.trace() + k.sum() * l_.sum() / ((size - 1) * (size - 2)) - 2.0 * kl.sum() / (size - 2)
        self.total += torch.clamp(estimate / (size * (size - 3)), min=0.0)
        self.batches += 1

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean of the batches' estimates."""
        if int(state["batches"]) == 0:
            raise NotComputableError(
                "HSIC must have at least one batch of 4 rows or more before it can be computed; smaller ones are "
                "skipped."
            )
        return float(state["total"].item()) / int(state["batches"])
