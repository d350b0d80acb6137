"""ember.utils.hash_checkpoint against ignite.utils.hash_checkpoint, run in the same test on the same checkpoint."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import ignite.utils
import pytest
import torch

import ember.utils
from ember.engine import Engine, Events
from ember.handlers import Checkpoint, DiskSaver


@pytest.mark.parametrize("as_string", [True, False])
def test_same_name_and_hash_as_ignite_for_a_checkpoint_file(tmp_path: Path, as_string: bool) -> None:
    model = torch.nn.Linear(3, 2)
    trainer = Engine(lambda engine, batch: None)
    checkpoint = Checkpoint({"model": model}, DiskSaver(tmp_path / "saved", require_empty=False), n_saved=1)
    trainer.add_event_handler(Events.COMPLETED, checkpoint)
    trainer.run([0, 1], max_epochs=1)
    saved = Path(checkpoint.last_checkpoint)
    copy = tmp_path / "copy" / saved.name
    copy.parent.mkdir()
    shutil.copy(saved, copy)
    ignite_dir, ember_dir = tmp_path / "ignite_out", tmp_path / "ember_out"
    if not as_string:
        ignite_dir.mkdir()  # ignite creates only an output_dir given as a string
    expected_path, expected_hash = ignite.utils.hash_checkpoint(
        str(copy) if as_string else copy, str(ignite_dir) if as_string else ignite_dir
    )
    path, digest = ember.utils.hash_checkpoint(
        str(saved) if as_string else saved, str(ember_dir) if as_string else ember_dir
    )
    assert (path.name, digest) == (expected_path.name, expected_hash)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()  # an independent reference
    assert not saved.exists() and not copy.exists()  # both move the file
    assert torch.load(path, weights_only=True).keys() == model.state_dict().keys()
    # torch.hub's own check accepts the name
    assert torch.hub.HASH_REGEX.search(path.name).group(1) == digest[:8]  # type: ignore[union-attr]


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="found no file at"):
        ember.utils.hash_checkpoint(tmp_path / "nope.pt", tmp_path)
    with pytest.raises(FileNotFoundError):
        ignite.utils.hash_checkpoint(tmp_path / "nope.pt", tmp_path)
