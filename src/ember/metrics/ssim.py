"""``SSIM``: the structural similarity index of images, 2D or 3D (ignite's ``ssim`` module)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric
from ember.metrics.psnr import check_same_kind

__all__ = ["SSIM"]


def _per_dimension(name: str, value: Any, ndims: int, kind: type | tuple[type, ...]) -> list[Any]:
    if isinstance(value, kind) and not isinstance(value, bool):
        return [value] * ndims
    if isinstance(value, Sequence) and len(value) == ndims:
        return list(value)
    raise ValueError(
        f"SSIM {name} must be a number or a sequence of {ndims} numbers (one per spatial dimension), got {value!r}."
    )


def _window(size: int, sigma: float, gaussian: bool) -> torch.Tensor:
    """One dimension of the averaging window: a normalised Gaussian, or ignite's "uniform" window.

    ignite's uniform window weighs the (at most 5) central taps 1/5 each, and the others 0.
    """
    if gaussian:
        positions = torch.linspace(-(size - 1) / 2, (size - 1) / 2, steps=size)
        weights = torch.exp(-0.5 * (positions / sigma) ** 2)
        return weights / weights.sum()
    weights = torch.zeros(size)
    weights[max(size // 2 - 2, 0) : min(size // 2 + 3, size)] = 0.2
    return weights


class SSIM(Metric):
    """The mean structural similarity (Wang et al., 2004) of each image pair, averaged over the examples.

    Local means, variances and the covariance come from a window (Gaussian by default) slid over
    the images, whose borders are padded by reflection; the SSIM map
    ``(2 mean_x mean_y + c1)(2 cov_xy + c2) / ((mean_x² + mean_y² + c1)(var_x + var_y + c2))`` with
    ``c1 = (k1 · data_range)²`` and ``c2 = (k2 · data_range)²`` is averaged over channels and
    positions for each example.

    Args:
        data_range: the range of the values, e.g. 1.0 or 255.
        kernel_size: the window's size, odd; one per spatial dimension, or one for all.
        sigma: the Gaussian window's standard deviation; one per spatial dimension, or one for all.
        k1, k2: the stabilising constants' factors.
        gaussian: a Gaussian window (default) or ignite's uniform one.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        ndims: 2 for images ``(N, C, H, W)``, 3 for volumes ``(N, C, D, H, W)``.

    >>> import torch
    >>> images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim = SSIM(data_range=1.0)
    >>> ssim.update((images, images))
    >>> round(ssim.compute(), 6)  # identical images
    1.0
    """

    _ignite_state_names: ClassVar[Mapping[str, str]] = {"total": "_sum_of_ssim", "count": "_num_examples"}

    def __init__(
        self,
        data_range: float,
        kernel_size: int | Sequence[int] = 11,
        sigma: float | Sequence[float] = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        gaussian: bool = True,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
        ndims: int = 2,
    ) -> None:
        if ndims not in (2, 3):
            raise ValueError(f"SSIM ndims must be 2 (images) or 3 (volumes), got ndims={ndims!r}.")
        sizes = _per_dimension("kernel_size", kernel_size, ndims, int)
        sigmas = _per_dimension("sigma", sigma, ndims, (int, float))
        if any(not isinstance(size, int) or size <= 0 or size % 2 == 0 for size in sizes):
            raise ValueError(f"SSIM kernel_size must be odd positive integers, got {kernel_size!r}.")
        if any(not isinstance(value, (int, float)) or value <= 0 for value in sigmas):
            raise ValueError(f"SSIM sigma must be positive, got {sigma!r}.")
        if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not math.isfinite(data_range):
            raise TypeError(f"SSIM data_range must be a number such as 1.0 or 255, got {data_range!r}.")
        self.kernel_size, self.sigma, self.ndims = sizes, sigmas, ndims
        self.gaussian, self.data_range = gaussian, data_range
        self.c1, self.c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
        windows = [_window(size, spread, gaussian) for size, spread in zip(sizes, sigmas)]
        # The window's axes follow kernel_size's order; the padding of each spatial axis pairs with
        # ignite's choice (H with kernel_size[0], W with kernel_size[1], D with kernel_size[2]).
        self._window = windows[0][:, None] * windows[1][None, :]
        if ndims == 3:
            self._window = self._window[:, :, None] * windows[2][None, None, :]
        self._padding = [(sizes[1] - 1) // 2] * 2 + [(sizes[0] - 1) // 2] * 2
        if ndims == 3:
            self._padding += [(sizes[2] - 1) // 2] * 2
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("count", torch.tensor(0), reduction="sum")
        self.total: torch.Tensor
        self.count: torch.Tensor

    def _local_moments(self, y_pred: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """The windowed means of y_pred, y, y_pred², y², y_pred·y (channel by channel)."""
        channels = y_pred.shape[1]
        window = self._window.to(device=y_pred.device, dtype=y_pred.dtype)
        kernel = window.expand(channels, 1, *window.shape)
        padded = [F.pad(t, self._padding, mode="reflect") for t in (y_pred, y)]
        stacked = torch.cat([padded[0], padded[1], padded[0] * padded[0], padded[1] * padded[1], padded[0] * padded[1]])
        convolve = F.conv3d if self.ndims == 3 else F.conv2d
        return list(convolve(stacked, kernel, groups=channels).chunk(5))

    def update(self, output: Any) -> None:
        """Add one batch's per-example SSIMs."""
        y_pred, y = self._unpack_pair(output)
        check_same_kind("SSIM", y_pred, y)
        if y.dim() != self.ndims + 2:
            layout = "(N, C, H, W)" if self.ndims == 2 else "(N, C, D, H, W)"
            raise ValueError(
                f"SSIM with ndims={self.ndims} expects images of shape {layout}, got {tuple(y.shape)}. Add the "
                "missing batch or channel dimension, e.g. y.unsqueeze(1) for one channel."
            )
        if not y.is_floating_point():
            y_pred, y = y_pred.float(), y.float()
        mean_pred, mean_y, pred_squares, y_squares, products = self._local_moments(y_pred, y)
        mean_products = mean_pred * mean_y
        numerator = (2 * mean_products + self.c1) * (2 * (products - mean_products) + self.c2)
        denominator = (mean_pred.pow(2) + mean_y.pow(2) + self.c1) * (
            (pred_squares - mean_pred.pow(2)) + (y_squares - mean_y.pow(2)) + self.c2
        )
        ssim_map = numerator / denominator
        self.total += torch.mean(ssim_map, dim=list(range(1, self.ndims + 2)), dtype=torch.float64).sum()
        self.count += y.shape[0]

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """The mean SSIM over the examples."""
        if int(state["count"]) == 0:
            raise NotComputableError("SSIM must have at least one example before it can be computed.")
        return float((state["total"] / int(state["count"])).item())
