"""PSNR and SSIM: values against independent numpy/scipy computations, input errors, attaching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.ndimage
import torch

from ember.engine import Engine
from ember.metrics import PSNR, SSIM, NotComputableError


def images(seed: int, *shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    clean = torch.rand(*shape, generator=generator, dtype=torch.float64)
    return (clean + 0.1 * torch.randn(*shape, generator=generator, dtype=torch.float64)).clamp(0, 1), clean


def reference_ssim(x: np.ndarray, y: np.ndarray, window: np.ndarray, data_range: float) -> float:
    """SSIM with scipy's correlate (mirror borders, as reflection padding), averaged per image then over images.

    In float64 throughout; ember's window weights are float32 (as ignite's), hence a 1e-7 tolerance.
    """
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for image_x, image_y in zip(x, y):
        maps = []
        for channel_x, channel_y in zip(image_x, image_y):

            def local(values: np.ndarray) -> Any:
                return scipy.ndimage.correlate(values, window, mode="mirror")

            mx, my = local(channel_x), local(channel_y)
            vx, vy, cxy = (
                local(channel_x**2) - mx**2,
                local(channel_y**2) - my**2,
                local(channel_x * channel_y) - mx * my,
            )
            maps.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
        values.append(np.mean(maps))
    return float(np.mean(values))


def gaussian(size: int, sigma: float) -> np.ndarray:
    positions = np.arange(size) - (size - 1) / 2
    weights = np.exp(-0.5 * (positions / sigma) ** 2)
    return weights / weights.sum()


def test_psnr_equals_the_per_example_formula() -> None:
    x, y = images(0, 7, 3, 5, 5)
    metric = PSNR(data_range=1.0)
    metric.update((x[:3], y[:3]))
    metric.update((x[3:], y[3:]))
    mse = ((x - y) ** 2).reshape(7, -1).mean(1).numpy()
    assert metric.compute() == pytest.approx(float(np.mean(10 * np.log10(1.0 / (mse + 1e-10)))), rel=1e-12)


@pytest.mark.parametrize(("kernel", "sigma"), [(11, 1.5), (7, 1.0), (5, 2.0)])
def test_ssim_equals_a_scipy_computation(kernel: int, sigma: float) -> None:
    x, y = images(1, 4, 2, 16, 16)
    window = np.outer(gaussian(kernel, sigma), gaussian(kernel, sigma))
    metric = SSIM(data_range=1.0, kernel_size=kernel, sigma=sigma)
    metric.update((x[:1], y[:1]))
    metric.update((x[1:], y[1:]))
    assert metric.compute() == pytest.approx(reference_ssim(x.numpy(), y.numpy(), window, 1.0), rel=1e-7)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    """No variance: SSIM = (2ab + c1) / (a² + b² + c1), for either window.

    The window's weights are float32 (as ignite's), summing to 1 to float32 precision: the variance
    term, E[x²] - E[x]², is then a few 1e-8 instead of 0, next to c2 = 9e-4.
    """
    a, b, c1 = 0.3, 0.7, 0.01**2
    for gaussian_window in (True, False):
        metric = SSIM(data_range=1.0, gaussian=gaussian_window)
        metric.update((torch.full((2, 1, 12, 12), a), torch.full((2, 1, 12, 12), b)))
        assert metric.compute() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=2e-4)


def test_ssim_3d_of_identical_volumes_is_one() -> None:
    volume = torch.rand(2, 1, 7, 7, 7, generator=torch.Generator().manual_seed(2))
    metric = SSIM(data_range=1.0, kernel_size=3, ndims=3)
    metric.update((volume, volume))
    assert metric.compute() == pytest.approx(1.0, abs=1e-6)


BAD_UPDATES = [
    (lambda: PSNR(1.0), (torch.rand(2, 3), torch.rand(2, 3, dtype=torch.float64)), TypeError, "same dtype"),
    (lambda: PSNR(1.0), (torch.rand(2, 3), torch.rand(2, 4)), ValueError, "same shape"),
    (lambda: PSNR(1.0), (torch.rand(3), torch.rand(3)), ValueError, r"\(N, ...\)"),
    (lambda: SSIM(1.0), (torch.rand(2, 1, 12, 12), torch.rand(2, 1, 12, 12).double()), TypeError, "same dtype"),
    (lambda: SSIM(1.0), (torch.rand(2, 12, 12), torch.rand(2, 12, 12)), ValueError, r"\(N, C, H, W\)"),
    (
        lambda: SSIM(1.0, ndims=3),
        (torch.rand(2, 1, 12, 12), torch.rand(2, 1, 12, 12)),
        ValueError,
        r"\(N, C, D, H, W\)",
    ),
]


@pytest.mark.parametrize(("make", "output", "error", "match"), BAD_UPDATES)
def test_bad_inputs_are_refused_with_the_fix(make: Any, output: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make().update(output)


def test_bad_arguments_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="positive"):
        PSNR(data_range=0)
    with pytest.raises(TypeError, match="data_range"):
        PSNR(data_range="255")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="odd"):
        SSIM(1.0, kernel_size=4)
    with pytest.raises(ValueError, match="sequence of 2"):
        SSIM(1.0, kernel_size=(3, 5, 7))
    with pytest.raises(ValueError, match="positive"):
        SSIM(1.0, sigma=-1.0)
    with pytest.raises(ValueError, match="ndims"):
        SSIM(1.0, ndims=4)
    for metric in (PSNR(1.0), SSIM(1.0)):
        with pytest.raises(NotComputableError):
            metric.compute()


def test_attached_psnr_and_ssim_publish_the_epoch_values() -> None:
    x, y = images(3, 6, 1, 12, 12)
    engine = Engine(lambda engine, batch: batch)
    PSNR(data_range=1.0).attach(engine, "psnr")
    SSIM(data_range=1.0).attach(engine, "ssim")
    metrics = engine.run([(x[:2].float(), y[:2].float()), (x[2:].float(), y[2:].float())]).metrics
    whole_psnr, whole_ssim = PSNR(data_range=1.0), SSIM(data_range=1.0)
    whole_psnr.update((x.float(), y.float()))
    whole_ssim.update((x.float(), y.float()))
    assert metrics["psnr"] == pytest.approx(whole_psnr.compute(), rel=1e-6)
    assert metrics["ssim"] == pytest.approx(whole_ssim.compute(), rel=1e-6)
