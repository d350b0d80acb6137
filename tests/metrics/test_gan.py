"""FID and InceptionScore: against direct numpy/scipy formulas, the missing-network and bad-input errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.linalg
import torch

from ember.exceptions import NotComputableError
from ember.metrics import FID, InceptionScore
from ember.metrics.gan.utils import InceptionModel


def test_fid_equals_the_formula_on_numpy_covariances() -> None:
    generator = torch.Generator().manual_seed(0)
    train, test = torch.randn(40, 3, generator=generator), torch.randn(40, 3, generator=generator) + 0.5
    fid = FID(num_features=3)
    fid.update((train[:15], test[:15]))
    fid.update((train[15:], test[15:]))
    a, b = train.double().numpy(), test.double().numpy()
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    diff = a.mean(0) - b.mean(0)
    expected = diff @ diff + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert fid.compute() == pytest.approx(expected, rel=1e-9)


def test_inception_score_equals_the_mean_kl_formula() -> None:
    probabilities = torch.softmax(torch.randn(20, 5, generator=torch.Generator().manual_seed(1)), dim=1).double()
    score = InceptionScore(num_features=5)
    score.update(probabilities[:8])
    score.update(probabilities[8:])
    marginal = probabilities.mean(0)
    kl = (probabilities * (probabilities.log() - marginal.log())).sum(1).mean()
    assert score.compute() == pytest.approx(float(kl.exp()), rel=1e-9)


def test_without_torchvision_the_default_network_names_the_extra() -> None:
    if "torchvision" in sys.modules or _importable("torchvision"):
        pytest.skip("torchvision is installed: the default network downloads its weights instead")
    for make in (FID, InceptionScore):
        with pytest.raises(ModuleNotFoundError, match=r"torchvision.*ember\[gan\].*feature_extractor=my_network"):
            make()
    with pytest.raises(ModuleNotFoundError, match=r"torchvision.*ember\[gan\]"):
        InceptionModel(return_features=True)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_without_scipy_fid_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.linalg", None)
    with pytest.raises(ModuleNotFoundError, match=r"ember\[gan\]"):
        FID(num_features=2)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: FID(feature_extractor=torch.nn.Identity()), ValueError, "without num_features"),
        (lambda: FID(num_features=0), ValueError, "positive integer"),
        (lambda: InceptionScore(num_features=3, feature_extractor=lambda x: x), TypeError, "torch.nn.Module"),
    ],
)
def test_bad_arguments_are_refused_at_construction(make: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()  # type: ignore[operator]


def test_bad_batches_are_refused_at_update() -> None:
    with pytest.raises(ValueError, match=r"num_features=3.*\(4, 2\)"):
        FID(num_features=3).update((torch.rand(4, 2), torch.rand(4, 2)))
    with pytest.raises(ValueError, match="same size"):
        FID(num_features=2).update((torch.rand(4, 2), torch.rand(3, 2)))
    with pytest.raises(ValueError, match="pair"):
        FID(num_features=2).update(torch.rand(4, 2))
    with pytest.raises(ValueError, match=r"\(batch, num_features=2\)"):
        InceptionScore(num_features=2).update(torch.rand(4))
    with pytest.raises(ValueError, match="non-empty"):
        InceptionScore(num_features=2).update(torch.rand(0, 2))


def test_fid_of_one_sample_is_not_computable() -> None:
    fid = FID(num_features=2)
    fid.update((torch.rand(1, 2), torch.rand(1, 2)))
    with pytest.raises(NotComputableError, match="at least 2 samples"):
        fid.compute()
