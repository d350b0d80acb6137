"""Fixtures for the checkpoint reliability tests: the training script and its uninterrupted result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

TRAINING_SCRIPT = Path(__file__).with_name("checkpoint_training_script.py")


def train(folder: Path, final: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run the training script to its end (resuming from `folder` when it holds checkpoints)."""
    return subprocess.run(
        [sys.executable, str(TRAINING_SCRIPT), str(folder), str(final), *options],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


class TrainingScript:
    """The training script's path and helpers, handed to tests as a fixture (tests import no conftest)."""

    path = TRAINING_SCRIPT
    train = staticmethod(train)

    @staticmethod
    def assert_same_weights(final: Path, reference: dict[str, torch.Tensor]) -> None:
        weights = torch.load(final, weights_only=True)
        assert sorted(weights) == sorted(reference)
        for name, value in reference.items():
            assert torch.equal(weights[name], value), f"{name} differs from the uninterrupted run"


@pytest.fixture(scope="session")
def training_script() -> type[TrainingScript]:
    """The training script the reliability tests run as a real subprocess."""
    return TrainingScript


@pytest.fixture(scope="session")
def reference_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """Final weights of one uninterrupted run of the training script (shared by the kill and SIGTERM tests)."""
    folder = tmp_path_factory.mktemp("reference")
    train(folder / "checkpoints", folder / "final.pt")
    weights: dict[str, torch.Tensor] = torch.load(folder / "final.pt", weights_only=True)
    return weights
