"""The checkpoint file: a plain torch.save archive with a checksum; every kind of damage is detected and skipped."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ember.handlers import (
    CorruptCheckpointError,
    DiskSaver,
    find_latest_checkpoint,
    load_checkpoint,
    resume_from_latest,
    verify_checkpoint,
)

STEPS = (1, 2, 3)


class Counter:
    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.step = state_dict["step"]


def write_three(folder: Path) -> bytes:
    """Three checkpoints of a 1000-float buffer (value = step); returns the newest file's bytes."""
    saver = DiskSaver(folder)
    for step in STEPS:
        saver({"model": {"w": torch.full((1000,), float(step))}, "trainer": {"step": step}}, f"checkpoint_{step}.pt")
    return (folder / "checkpoint_3.pt").read_bytes()


def flip(offset: Callable[[bytes], int]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        position = offset(data)
        return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]

    return damage


def tensor_offset(data: bytes) -> int:
    return data.find(struct.pack("<f", 3.0) * 8) + 1234  # inside the tensor's 4000 bytes of data


def central_directory_offset(data: bytes) -> int:
    return data.rfind(b"PK\x01\x02") + 12  # a central directory entry's modification date


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "zero-filled": lambda data: bytes(len(data)),
    "random-bytes": lambda data: random.Random(0).randbytes(len(data)),
    "empty": lambda data: b"",
    "truncated-half": lambda data: data[: len(data) // 2],
    "truncated-before-checksum": lambda data: data[:-77],
    "truncated-last-byte": lambda data: data[:-1],
    "padded": lambda data: data + b"extra",
    "flip-first-byte": flip(lambda data: 0),
    "flip-pickle": flip(lambda data: 80),
    "flip-tensor-data": flip(tensor_offset),
    "flip-record-padding": flip(lambda data: data.find(b"archive/data/0") + 20),
    "flip-central-directory-date": flip(central_directory_offset),
    "flip-end-record": flip(lambda data: len(data) - 77 - 10),
    "flip-checksum": flip(lambda data: len(data) - 5),
    "flip-checksum-marker": flip(lambda data: len(data) - 70),
}


def test_ember_files_are_plain_torch_save_archives(tmp_path: Path) -> None:
    data = write_three(tmp_path)
    loaded = torch.load(tmp_path / "checkpoint_3.pt")  # plain torch.load, weights_only=True (torch's default)
    assert torch.equal(loaded["model"]["w"], torch.full((1000,), 3.0)) and loaded["trainer"] == {"step": 3}
    with zipfile.ZipFile(tmp_path / "checkpoint_3.pt") as archive:
        assert archive.testzip() is None
        comment = archive.comment
    # the archive's comment holds the SHA-256 of every byte before it, checked here independently
    assert comment.startswith(b"ember-sha256:") and len(comment) == 77
    assert hashlib.sha256(data[: -len(comment)]).hexdigest() == comment[13:].decode()


@pytest.mark.parametrize("damage", list(DAMAGE.values()), ids=list(DAMAGE))
def test_damage_is_detected_and_resume_falls_back(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    newest = tmp_path / "checkpoint_3.pt"
    damaged = damage(write_three(tmp_path))
    assert damaged != newest.read_bytes()
    newest.write_bytes(damaged)
    with pytest.raises(CorruptCheckpointError, match=r"checkpoint_3\.pt' is .*Delete it") as error:
        verify_checkpoint(newest)
    assert "weights_only" not in str(error.value)  # damage is never blamed on what the file holds
    with pytest.raises(CorruptCheckpointError):
        load_checkpoint(newest)
    model = torch.nn.Module()
    model.register_buffer("w", torch.zeros(1000))
    with pytest.warns(UserWarning, match=r"Skipping checkpoint .*checkpoint_3\.pt"):
        resumed = resume_from_latest({"model": model, "trainer": (counter := Counter())}, tmp_path)
    assert resumed == tmp_path / "checkpoint_2.pt"
    assert torch.equal(model.w, torch.full((1000,), 2.0)) and counter.step == 2


def test_a_valid_file_gives_no_warning(tmp_path: Path) -> None:
    write_three(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoint_3.pt"


def legacy_file(payload_object: object) -> bytes:
    """A file in ember's earlier format: magic, SHA-256 and length of the torch.save bytes, then those bytes."""
    buffer = io.BytesIO()
    torch.save(payload_object, buffer)
    payload = buffer.getvalue()
    return b"EMBERCKPT\x01" + struct.pack("<32sQ", hashlib.sha256(payload).digest(), len(payload)) + payload


def test_files_of_embers_earlier_format_still_load_and_verify(tmp_path: Path) -> None:
    (tmp_path / "checkpoint_5.pt").write_bytes(legacy_file({"model": {"w": torch.ones(3)}}))
    verify_checkpoint(tmp_path / "checkpoint_5.pt")
    assert torch.equal(load_checkpoint(tmp_path / "checkpoint_5.pt")["model"]["w"], torch.ones(3))
    damaged = bytearray(legacy_file({"model": {"w": torch.ones(3)}}))
    damaged[-30] ^= 0x01
    (tmp_path / "checkpoint_6.pt").write_bytes(bytes(damaged))
    with pytest.raises(CorruptCheckpointError, match="SHA-256 checksum does not match"):
        verify_checkpoint(tmp_path / "checkpoint_6.pt")
    with pytest.warns(UserWarning, match="Skipping checkpoint"):
        assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoint_5.pt"


def test_a_content_error_is_not_called_damage(tmp_path: Path) -> None:
    """A complete file holding objects weights_only refuses says so, and only then suggests weights_only=False."""
    DiskSaver(tmp_path)({"path": Path("x")}, "odd.pt")
    verify_checkpoint(tmp_path / "odd.pt")
    with pytest.raises(RuntimeError, match=r"refuses to unpickle .*for a file you trust, pass weights_only=False"):
        load_checkpoint(tmp_path / "odd.pt")
