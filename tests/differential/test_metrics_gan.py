"""ember's FID and InceptionScore against pytorch-ignite 0.5.5's, given the same small feature extractor.

The Inception weights are downloaded by torchvision (not here): both libraries get the same network
built in the test, as ignite's docs allow (``feature_extractor=``, ``num_features=``).
"""

from __future__ import annotations

import ignite.engine
import ignite.metrics
import pytest
import torch

import ember.engine
import ember.metrics
import ember.metrics.gan

LIBRARIES = {"ignite": ignite.metrics, "ember": ember.metrics}
SEEDS = (0, 1, 2)
CUTS = ((), (3, 10, 11))


def extractor(seed: int, features: int, softmax: bool) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = [torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, features), torch.nn.Tanh()]
    if softmax:
        layers[-1] = torch.nn.Softmax(dim=1)
    return torch.nn.Sequential(*layers).eval()


def images(seed: int, rows: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + seed)
    return torch.rand(rows, 3, 4, 4, generator=generator), torch.rand(rows, 3, 4, 4, generator=generator) * 1.5


def fid_value(
    library: str, network: torch.nn.Module | None, features: int, batches: list[tuple[torch.Tensor, ...]]
) -> float:
    metric = LIBRARIES[library].FID(num_features=features, feature_extractor=network)
    for batch in batches:
        metric.update(batch)
    return float(metric.compute())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cuts", CUTS, ids=["one_batch", "uneven"])
@pytest.mark.parametrize("features", [3, 8])
def test_fid_matches_ignite(features: int, cuts: tuple[int, ...], seed: int) -> None:
    network = extractor(seed, features, softmax=False)
    train, test = images(seed)
    batches = list(zip(train.tensor_split(list(cuts)), test.tensor_split(list(cuts))))
    expected = fid_value("ignite", network, features, batches)
    assert fid_value("ember", network, features, batches) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_fid_on_raw_features_matches_ignite(seed: int) -> None:
    """num_features without an extractor: the inputs are the features."""
    generator = torch.Generator().manual_seed(seed)
    train, test = torch.randn(30, 4, generator=generator), torch.randn(30, 4, generator=generator) * 2 + 1
    batches = [(train[:13], test[:13]), (train[13:], test[13:])]
    assert fid_value("ember", None, 4, batches) == pytest.approx(fid_value("ignite", None, 4, batches), rel=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cuts", CUTS, ids=["one_batch", "uneven"])
@pytest.mark.parametrize("classes", [2, 10])
def test_inception_score_matches_ignite(classes: int, cuts: tuple[int, ...], seed: int) -> None:
    network = extractor(seed, classes, softmax=True)
    samples, _ = images(seed)
    values = {}
    for library in ("ignite", "ember"):
        metric = LIBRARIES[library].InceptionScore(num_features=classes, feature_extractor=network)
        for batch in samples.tensor_split(list(cuts)):
            metric.update(batch)
        values[library] = metric.compute()
    assert values["ember"] == pytest.approx(values["ignite"], rel=1e-6)


def test_attached_gan_metrics_publish_ignites_values() -> None:
    network, classifier = extractor(0, 5, softmax=False), extractor(1, 6, softmax=True)
    train, test = images(4)
    data = [(train[i : i + 7], test[i : i + 7]) for i in range(0, 24, 7)]
    published = {}
    for library, engine_class in (("ignite", ignite.engine.Engine), ("ember", ember.engine.Engine)):
        engine = engine_class(lambda engine, batch: batch)
        LIBRARIES[library].FID(num_features=5, feature_extractor=network).attach(engine, "fid")
        LIBRARIES[library].InceptionScore(
            num_features=6, feature_extractor=classifier, output_transform=lambda output: output[0]
        ).attach(engine, "is")
        published[library] = engine.run(data).metrics
    assert published["ember"]["fid"] == pytest.approx(published["ignite"]["fid"], rel=1e-6)
    assert published["ember"]["is"] == pytest.approx(published["ignite"]["is"], rel=1e-6)
    assert ember.metrics.gan.FID is ember.metrics.FID
