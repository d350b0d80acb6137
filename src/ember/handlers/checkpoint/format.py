"""The checkpoint file format: what a file holds, how it is verified, how it is read on every rank.

A checkpoint file is exactly what :func:`torch.save` writes (a zip archive), so ``torch.load(path)``
reads it, plus a SHA-256 checksum of the whole file kept in the archive's comment field, the zip
format's own place for free text at its very end. The checksum lets :func:`verify_checkpoint` and
:func:`load_checkpoint` tell a complete file from a truncated or corrupted one (one flipped bit
anywhere) and name the file in the error; files written by other tools are checked with the CRC-32
of every record of their archive (and torch's legacy, non-zip files are read as they are).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ember import distributed

__all__ = ["CorruptCheckpointError", "load_checkpoint", "verify_checkpoint"]

# The zip archive's end record: signature, two disk numbers, two entry counts, central directory size
# and offset, comment length. torch.save writes it last, with an empty comment.
_END_RECORD = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP_START = b"PK\x03\x04"
# ember's comment: a marker and the hex SHA-256 of every byte of the file before the comment
_CHECKSUM_MARKER = b"ember-sha256:"
_CHECKSUM_LENGTH = len(_CHECKSUM_MARKER) + 64
# files written by ember before its files became plain torch.save archives: magic, SHA-256, length, data
_LEGACY_MAGIC = b"EMBERCKPT\x01"
_LEGACY_HEADER = struct.Struct("<32sQ")
# torch.save(..., _use_new_zipfile_serialization=False): a pickle protocol 2 stream opening with torch's magic number
_TORCH_PICKLE_START = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
_READ_CHUNK = 1 << 22


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated, corrupted, or not a checkpoint at all."""


# where users import it from, and how tracebacks and pickles (an error sent to other ranks) name it
CorruptCheckpointError.__module__ = "ember.handlers.checkpoint"


def _encode(checkpoint: Any, torch_save_kwargs: Mapping[str, Any] | None = None) -> list[bytes | memoryview]:
    """The bytes of ``torch.save(checkpoint)`` with ember's checksum in the archive's comment."""
    buffer = io.BytesIO()
    try:
        torch.save(checkpoint, buffer, **(torch_save_kwargs or {}))
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise TypeError(
            f"The checkpoint's state cannot be saved by torch.save ({type(error).__name__}: {error}). State dicts "
            "must hold tensors, numbers, strings and containers of them."
        ) from error
    payload = buffer.getbuffer()  # a view, not a copy: a checkpoint can be gigabytes
    end = bytes(payload[-_END_RECORD.size :])
    if bytes(payload[:4]) != _ZIP_START or not end.startswith(_END_SIGNATURE) or not end.endswith(b"\0\0"):
        # not a zip archive (torch's legacy format, asked for through torch_save_kwargs): no place for a checksum
        return [payload]
    payload[-2:] = struct.pack("<H", _CHECKSUM_LENGTH)  # the comment length, covered by the checksum
    digest = hashlib.sha256(payload).hexdigest().encode("ascii")
    return [payload, _CHECKSUM_MARKER + digest]


class _Verified(NamedTuple):
    """What :func:`_verify` learnt: the file's kind and the SHA-256 digest of its whole content."""

    kind: str  # "ember" (checksummed), "zip" (a foreign torch.save archive), "legacy" (old ember), "pickle"
    digest: str


def _corrupt(path: Path, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"Checkpoint {str(path)!r} is {what}. Delete it and load an older checkpoint "
        "(find_latest_checkpoint and resume_from_latest skip such files)."
    )


def _hash_file(path: Path, length: int) -> str:
    """SHA-256 of the first ``length`` bytes of ``path``, read in chunks."""
    digest = hashlib.sha256()
    remaining = length
    with path.open("rb") as handle:
        while remaining > 0:
            chunk = handle.read(min(_READ_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def _verify(path: Path) -> _Verified:
    """Check the file at ``path`` thoroughly without unpickling it; raise if it is damaged."""
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint file at {str(path)!r}. Pass the path of a file written by Checkpoint or DiskSaver "
            "(find_latest_checkpoint(folder) finds the newest one in a folder)."
        )
    size = path.stat().st_size
    if size == 0:
        raise _corrupt(path, "empty (0 bytes)")
    with path.open("rb") as handle:
        start = handle.read(len(_TORCH_PICKLE_START))
        handle.seek(max(0, size - _END_RECORD.size - _CHECKSUM_LENGTH))
        tail = handle.read()
    if start.startswith(_LEGACY_MAGIC) or (len(start) < len(_LEGACY_MAGIC) and _LEGACY_MAGIC.startswith(start)):
        _legacy_payload(path)
        return _Verified("legacy", _hash_file(path, size))
    if start.startswith(_ZIP_START):
        comment = tail[-_CHECKSUM_LENGTH:]
        if len(tail) == _END_RECORD.size + _CHECKSUM_LENGTH and comment.startswith(_CHECKSUM_MARKER):
            return _Verified("ember", _verify_checksum(path, size, tail))
        if len(tail) >= _END_RECORD.size and tail[-_END_RECORD.size :][:4] == _END_SIGNATURE and tail[-2:] == b"\0\0":
            _verify_zip(path)  # a plain torch.save file (e.g. written by ignite): its records' CRC-32s
            return _Verified("zip", _hash_file(path, size))
        raise _corrupt(path, "truncated or corrupted: the end of its zip archive (and ember's checksum) is missing")
    if start == _TORCH_PICKLE_START:
        return _Verified("pickle", _hash_file(path, size))  # torch's legacy format has nothing to verify
    raise _corrupt(path, f"not a torch.save file: it starts with the bytes {start[:8]!r}")


def _verify_checksum(path: Path, size: int, tail: bytes) -> str:
    signature, *_, comment_length = _END_RECORD.unpack(tail[: _END_RECORD.size])
    if signature != _END_SIGNATURE or comment_length != _CHECKSUM_LENGTH:
        raise _corrupt(path, "corrupted: the end record of its zip archive is damaged")
    expected = tail[len(tail) - _CHECKSUM_LENGTH + len(_CHECKSUM_MARKER) :].decode("ascii", errors="replace")
    actual = _hash_file(path, size - _CHECKSUM_LENGTH)
    if actual != expected:
        raise _corrupt(path, "corrupted: its SHA-256 checksum does not match its contents")
    return actual


def _verify_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as error:
        raise _corrupt(path, f"truncated or corrupted: its zip archive cannot be read ({error})") from error
    if damaged is not None:
        raise _corrupt(path, f"corrupted: the CRC-32 of its record {damaged!r} does not match")


def _legacy_payload(path: Path) -> bytes:
    """The verified ``torch.save`` bytes of a file in ember's earlier format (a header, then the data)."""
    data = path.read_bytes()
    header_end = len(_LEGACY_MAGIC) + _LEGACY_HEADER.size
    if len(data) < header_end:
        raise _corrupt(path, f"truncated: it has {len(data)} bytes, fewer than its header")
    digest, length = _LEGACY_HEADER.unpack(data[len(_LEGACY_MAGIC) : header_end])
    payload = data[header_end:]
    if len(payload) != length:
        raise _corrupt(
            path, f"truncated or padded: its header announces {length} bytes of data, the file holds {len(payload)}"
        )
    if hashlib.sha256(payload).digest() != digest:
        raise _corrupt(path, "corrupted: its SHA-256 checksum does not match its contents")
    return payload


def verify_checkpoint(path: str | os.PathLike[str]) -> None:
    """Raise :class:`CorruptCheckpointError` (or ``FileNotFoundError``) unless ``path`` is a complete checkpoint.

    The file is read in full but nothing is unpickled. A file written by ember is checked against
    the SHA-256 checksum it carries; a plain ``torch.save`` file (e.g. from ignite) against the
    CRC-32 of each record of its zip archive.

    >>> import tempfile, torch
    >>> from ember.handlers import DiskSaver
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     DiskSaver(folder)({"w": torch.ones(3)}, "demo_1.pt")
    ...     verify_checkpoint(f"{folder}/demo_1.pt")  # returns None: the file is complete
    ...     with open(f"{folder}/demo_1.pt", "r+b") as damaged:
    ...         _ = damaged.write(b"\\0" * 16)
    ...     verify_checkpoint(f"{folder}/demo_1.pt")
    Traceback (most recent call last):
    ...
    ember.handlers.checkpoint.CorruptCheckpointError: Checkpoint '.../demo_1.pt' is not a torch.save file: ...
    """
    _verify(Path(path))


def _torch_load(path: Path, kind: str, weights_only: bool, map_location: Any) -> Any:
    """``torch.load`` a file that :func:`_verify` accepted as ``kind``, with errors that say what to do."""
    source: Path | io.BytesIO = io.BytesIO(_legacy_payload(path)) if kind == "legacy" else path
    try:
        return torch.load(source, weights_only=weights_only, map_location=map_location)
    except Exception as error:
        if kind == "pickle":
            raise CorruptCheckpointError(
                f"Checkpoint {str(path)!r} (torch's legacy, non-zip format, which has no checksum) could not be read "
                f"by torch.load ({type(error).__name__}: {error}). It is damaged, or holds objects that "
                "torch.load(weights_only=True) refuses; the message above says which."
            ) from error
        if weights_only and "weights_only" in str(error).lower():
            # the file's integrity is verified, so this is its content, not damage
            raise RuntimeError(
                f"Checkpoint {str(path)!r} holds objects that torch.load(weights_only=True) refuses to unpickle "
                f"({type(error).__name__}; the cause below names them). Save only tensors, numbers, strings and "
                "containers of them, or, for a file you trust, pass weights_only=False."
            ) from error
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} passed its integrity check but torch.load could not read it "
            f"({type(error).__name__}: {error}). It may come from a newer PyTorch; load it with that version."
        ) from error


def load_checkpoint(
    path: str | os.PathLike[str], *, weights_only: bool = True, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Read and verify a checkpoint file; return the saved dict.

    A checkpoint of a single object (``to_save={"model": model}``) holds that object's bare state
    dict, as with ignite; one of several objects holds ``{name: state_dict}``. ``torch.load(path)``
    reads the same files; this adds the integrity check and clear errors.

    Args:
        path: a file written by :class:`Checkpoint` / :class:`DiskSaver` (a plain ``torch.save``
            file loads too, checked with its archive's CRC-32s).
        weights_only: load with ``torch.load(weights_only=True)``, which refuses arbitrary pickled
            objects. Pass ``False`` only for files you trust.
        map_location: where tensors go; the CPU by default.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptCheckpointError: the file is truncated or corrupted (the message names it).

    >>> import tempfile, torch
    >>> from ember.handlers import DiskSaver
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     saver = DiskSaver(folder)
    ...     saver({"x": torch.arange(3)}, "demo_1.pt")
    ...     load_checkpoint(f"{folder}/demo_1.pt")
    {'x': tensor([0, 1, 2])}
    """
    path = Path(path)
    loaded = _torch_load(path, _verify(path).kind, weights_only, map_location)
    if not isinstance(loaded, dict):
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} holds a {type(loaded).__name__}, expected a dict of state dicts."
        )
    return loaded


def _load_shared(path: Path, checked: _Verified, weights_only: bool, map_location: Any = "cpu") -> dict[str, Any]:
    """Load the checkpoint rank 0 verified (``checked``) on every rank, whether or not each rank's disk holds it.

    ``map_location`` is :func:`torch.load`'s: where the file's tensors go.
    """
    if distributed.get_world_size() == 1:
        loaded = _torch_load(path, checked.kind, weights_only, map_location)
        if not isinstance(loaded, dict):
            raise CorruptCheckpointError(f"Checkpoint {str(path)!r} holds a {type(loaded).__name__}, expected a dict.")
        return loaded
    kind: str | None = None
    try:
        verified = checked if distributed.get_rank() == 0 else _verify(path)
        kind = verified.kind if verified.digest == checked.digest else None
    except (FileNotFoundError, CorruptCheckpointError):
        pass
    missing = int(distributed.all_reduce(torch.tensor([0 if kind else 1], dtype=torch.int64)).item())
    if missing == 0:
        if kind is None:  # unreachable: the sum is 0 only if this rank has the file
            raise RuntimeError("internal error: a rank without the checkpoint file counted as having it")
        loaded = _torch_load(path, kind, weights_only, map_location)
    else:
        # some node has no copy (or an older one): rank 0's checkpoint travels to every rank
        loaded = distributed.decide_on_rank(
            lambda: load_checkpoint(path, weights_only=weights_only, map_location=map_location)
        )
    if not isinstance(loaded, dict):
        raise CorruptCheckpointError(f"Checkpoint {str(path)!r} holds a {type(loaded).__name__}, expected a dict.")
    return loaded
