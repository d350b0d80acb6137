"""The torch versions ember promises: pyproject's floor, the docs that state it, and the error for a too-old torch.

The features that need a newer torch than the floor are tried here on a torch that pretends to be the
floor (``ember._torch_version.torch_version`` answers the floor's version); the floor run
(``scripts/test_torch_floor.sh``) meets the same errors on the real old torch, where these tests run too.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

import ember._torch_version as torch_versions
from ember.distributed.auto import auto_model
from ember.distributed.sharding import gradient_sync, is_sharded, shard_model
from ember.handlers.sharded_checkpoint import ShardedSaver, dcp_to_torch_save, load_sharded_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def declared_floor() -> str:
    """The X.Y of ``torch>=X.Y`` in pyproject's dependencies."""
    found = re.search(r'^dependencies = \["torch>=(\d+\.\d+)"\]$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found is not None, "pyproject.toml's dependencies line no longer reads torch>=X.Y"
    return found.group(1)


@pytest.fixture
def floor_torch(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Make ember see pyproject's floor as the installed torch."""
    major, minor = (int(part) for part in declared_floor().split("."))
    monkeypatch.setattr(torch_versions, "torch_version", lambda: (major, minor))
    return major, minor


def test_the_floor_is_stated_alike_everywhere() -> None:
    """pyproject, the README, the versioning guide and the floor script agree on the lowest torch."""
    floor = declared_floor()
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"torch {re.escape(floor)}\.\d+ \(the floor", readme), "README's Supported versions"
    assert f"torch>={floor}" in (ROOT / "docs" / "versioning.md").read_text()
    assert f"torch>={floor}" in (ROOT / "src" / "ember" / "_torch_version.py").read_text()
    assert torch_versions.torch_version() >= (int(floor.split(".")[0]), int(floor.split(".")[1]))
    newer = {torch_versions.FSDP2_TORCH, torch_versions.SHARDED_CHECKPOINT_TORCH}
    for version in newer:
        assert f"torch>={version}" in readme and f"torch>={version}" in (ROOT / "docs" / "versioning.md").read_text()


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.13.0+cpu", (2, 13)), ("2.6.0a0+git1234", (2, 6)), ("2.3.1+cu121", (2, 3)), ("10.0", (10, 0))],
)
def test_versions_are_read_as_major_and_minor(
    monkeypatch: pytest.MonkeyPatch, version: str, expected: tuple[int, int]
) -> None:
    monkeypatch.setattr(torch, "__version__", version)
    assert torch_versions.torch_version() == expected


def test_a_feature_of_a_newer_torch_names_itself_and_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "__version__", "2.3.1+cu121")
    torch_versions.require_torch("2.3", "Something of 2.3")
    with pytest.raises(RuntimeError, match=r"^Thing X needs torch>=2\.10, but this is torch 2\.3\.1\+cu121\. Upgrade"):
        torch_versions.require_torch("2.10", "Thing X")
    with pytest.raises(ValueError, match="Not a torch version: 'two'"):
        torch_versions.require_torch("two", "Thing X")


def test_fsdp2_sharding_on_an_older_torch_is_a_clear_error(floor_torch: tuple[int, int]) -> None:
    """Raised when wired, on one process too, before any FSDP2 import could fail inside torch."""
    needed = torch_versions.FSDP2_TORCH
    if floor_torch >= tuple(int(part) for part in needed.split(".")):
        pytest.skip("the floor has FSDP2")
    message = rf"^Sharding a model with FSDP2 \(shard_model, auto_model\(strategy='fsdp'\)\) needs torch>={needed}, but"
    with pytest.raises(RuntimeError, match=message):
        shard_model(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match=message):
        auto_model(nn.Linear(2, 2), strategy="fsdp")
    # what any model may meet stays quiet: nothing is sharded on such a torch
    assert not is_sharded(nn.Linear(2, 2))
    gradient_sync(nn.Linear(2, 2), False)


def test_sharded_checkpoints_on_an_older_torch_are_a_clear_error(floor_torch: tuple[int, int], tmp_path: Path) -> None:
    needed = torch_versions.SHARDED_CHECKPOINT_TORCH
    if floor_torch >= tuple(int(part) for part in needed.split(".")):
        pytest.skip("the floor has what sharded checkpoints use")
    message = (
        rf"^Saving and loading sharded checkpoints \(ShardedSaver, load_sharded_checkpoint, dcp_to_torch_save\) needs "
        rf"torch>={needed}"
    )
    with pytest.raises(RuntimeError, match=message):
        ShardedSaver(tmp_path)
    with pytest.raises(RuntimeError, match=message):
        load_sharded_checkpoint({"model": nn.Linear(2, 2)}, tmp_path)
    with pytest.raises(RuntimeError, match=message):
        dcp_to_torch_save(tmp_path, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_the_floor_script_reads_the_floor_from_pyproject(tmp_path: Path) -> None:
    """The script stops with its reason on a pyproject without a floor, before building anything."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "test_torch_floor.sh").write_bytes((ROOT / "scripts" / "test_torch_floor.sh").read_bytes())
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["torch"]\n')
    result = subprocess.run(
        ["bash", str(scripts / "test_torch_floor.sh")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "Could not read the torch floor" in result.stderr
    assert not (tmp_path / ".venv-torch-floor").exists()
