"""The examples in ignite 0.5.5's own docstrings of the regression, long-tail, image, clustering and fairness
metrics, run with ``ignite`` replaced by ``ember``: each prints what it prints with ignite.

The examples are read from the installed ignite (the test-only oracle) at test time: each ``.. testcode::``
block runs in a namespace like ignite's doctest setup (``torch``, the library's metrics and a
``default_evaluator`` engine that returns its batch), first with ignite, then with ember, from the same
random seed; the printed lines must be identical.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import warnings
from typing import Any

import pytest
import torch
from tests.differential.ignite_docstrings import blocks_of_testcode

EXAMPLES: dict[str, list[str]] = {
    "metrics.regression": [
        "R2Score",
        "PearsonCorrelation",
        "SpearmanRankCorrelation",
        "KendallRankCorrelation",
        "MeanAbsoluteRelativeError",
        "MedianAbsoluteError",
        "MedianAbsolutePercentageError",
        "MedianRelativeAbsoluteError",
        "CanberraMetric",
        "FractionalAbsoluteError",
        "FractionalBias",
        "GeometricMeanAbsoluteError",
        "GeometricMeanRelativeAbsoluteError",
        "ManhattanDistance",
        "MaximumAbsoluteError",
        "MeanError",
        "MeanNormalizedBias",
        "WaveHedgesDistance",
    ],
    "metrics": [
        "CosineSimilarity",
        "MeanPairwiseDistance",
        "Entropy",
        "KLDivergence",
        "JSDivergence",
        "MutualInformation",
        "HSIC",
        "MaximumMeanDiscrepancy",
        "PSNR",
        "SSIM",
    ],
    "metrics.clustering": ["SilhouetteScore", "DaviesBouldinScore", "CalinskiHarabaszScore"],
    "metrics.fairness": ["SelectionRate", "DemographicParityDifference", "SubgroupAccuracyDifference"],
}
CASES = [(module, name) for module, names in EXAMPLES.items() for name in names]


def printed(library: str, blocks: list[str]) -> str:
    engine = importlib.import_module(f"{library}.engine")
    namespace: dict[str, Any] = {"torch": torch, "default_evaluator": engine.Engine(lambda engine, batch: batch)}
    for module in ("metrics", "metrics.regression", "metrics.clustering", "metrics.fairness"):
        exec(f"from {library}.{module} import *", namespace)
    torch.manual_seed(0)
    output = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(output):
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(block.replace("ignite", library), namespace)
    return output.getvalue()


@pytest.mark.parametrize(("module", "name"), CASES, ids=[name for _, name in CASES])
def test_ignites_docstring_example_prints_the_same_with_ember(module: str, name: str) -> None:
    docstring = inspect.getdoc(getattr(importlib.import_module(f"ignite.{module}"), name)) or ""
    blocks = blocks_of_testcode(docstring)
    assert blocks, f"ignite's {name} has no example to run"
    expected = printed("ignite", blocks)
    assert expected.strip(), f"ignite's {name} example prints nothing"
    assert printed("ember", blocks) == expected
