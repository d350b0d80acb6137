"""Checkpoints that never lose a run: atomic, checksummed, optionally asynchronous saves.

A checkpoint file is exactly what :func:`torch.save` writes (a zip archive), so ``torch.load(path)``
reads it, plus a SHA-256 checksum of the whole file kept in the archive's comment field, the zip
format's own place for free text at its very end. The checksum lets :func:`verify_checkpoint` and
:func:`load_checkpoint` tell a complete file from a truncated or corrupted one (one flipped bit
anywhere) and name the file in the error; files written by other tools are checked with the CRC-32
of every record of their archive. Files are written with :func:`ember._atomic.write_atomic`, so a
crash at any moment leaves every finished checkpoint intact, and with a :class:`DiskSaver` an older
kept checkpoint is deleted only after the new one is durable (other savers see ignite's order: the
older one is removed first).

The names, arguments and file names are pytorch-ignite's (``Checkpoint``, ``ModelCheckpoint``,
``DiskSaver``, ``BaseSaveHandler``, ``filename_pattern`` ...), so ignite code runs unchanged and
ignite's checkpoint files load. Exact resume needs more than the weights: put the engine itself, the
data loader (see :class:`ember.data.ResumableLoader`) and an :class:`RNGStates` in ``to_save`` as
well.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import logging
import math
import numbers
import os
import pickle
import re
import string
import struct
import threading
import warnings
import weakref
import zipfile
import zlib
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import torch

from ember import distributed
from ember._atomic import TEMP_SUFFIX, remove_stale_temporaries, write_atomic
from ember.engine import Engine, EventEnum, Events
from ember.random import RNGStates
from ember.utils import apply_to_tensors

__all__ = [
    "BaseSaveHandler",
    "Checkpoint",
    "CheckpointEvents",
    "CorruptCheckpointError",
    "DiskSaver",
    "ModelCheckpoint",
    "RNGStates",
    "SaveHandler",
    "find_latest_checkpoint",
    "load_checkpoint",
    "resume_from_latest",
    "verify_checkpoint",
]

logger = logging.getLogger(__name__)

_EXTENSION = ".pt"
_STEP_IN_NAME = re.compile(r"_(\d+)(?:_[^=]+=[^_]+)?\.pt$")

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


# ---------------------------------------------------------------------------------------------- files


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


def _checkpoint_files(folder: Path, filename_prefix: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return [
        entry
        for entry in folder.iterdir()
        if entry.name.endswith(_EXTENSION)
        and not entry.name.startswith(".")
        and entry.name.startswith(filename_prefix)
        and entry.is_file()
    ]


def _step_of(path: Path) -> int:
    match = _STEP_IN_NAME.search(path.name)
    return int(match.group(1)) if match else -1


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # removed since the folder was listed (a writer dropping an old checkpoint)
        return -1


def _find_latest(dirname: Path, filename_prefix: str) -> tuple[Path, _Verified] | None:
    files = _checkpoint_files(dirname, filename_prefix)
    files.sort(key=lambda path: (_step_of(path), _modified(path)), reverse=True)
    for path in files:
        try:
            verified = _verify(path)
        except (CorruptCheckpointError, FileNotFoundError) as error:
            warnings.warn(f"Skipping checkpoint {path}: {error}", UserWarning, stacklevel=3)
            continue
        return path, verified
    return None


def find_latest_checkpoint(dirname: str | os.PathLike[str], filename_prefix: str = "") -> Path | None:
    """The newest complete checkpoint in ``dirname``, or ``None`` if it holds none.

    Newest means the highest step in the file name (then the latest modification time). Truncated
    or corrupted files are skipped with a warning naming them, so a crash during a write falls back
    to the previous checkpoint.

    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for step in (10, 20):
    ...         DiskSaver(folder, require_empty=False)({"step": step}, f"checkpoint_{step}.pt")
    ...     find_latest_checkpoint(folder).name
    'checkpoint_20.pt'
    """
    found = _find_latest(Path(dirname), filename_prefix)
    return found[0] if found is not None else None


def resume_from_latest(
    to_load: Mapping[str, Any], dirname: str | os.PathLike[str], filename_prefix: str = "", *, weights_only: bool = True
) -> Path | None:
    """Load the newest valid checkpoint of ``dirname`` into ``to_load``; return its path, or ``None`` to start fresh.

    Call it before ``engine.run``: with the engine in ``to_load`` the run continues where the
    checkpoint was taken; when the folder holds no valid checkpoint (or does not exist, which is
    warned about in case its name is mistyped), nothing is loaded and the run starts from the
    beginning. Damaged files are skipped with a warning.

    Under ``torch.distributed`` call it on every rank: rank 0 picks the file, every rank that sees
    a byte-identical copy in its own ``dirname`` loads that, and if any rank has none (each node
    with its own disk) rank 0 sends the checkpoint to every rank.

    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     resume_from_latest({"model": model}, folder) is None
    True
    """
    folder = Path(dirname)

    def pick() -> tuple[str, _Verified] | None:
        if not folder.is_dir():
            message = (
                f"resume_from_latest: the checkpoint folder {str(folder)!r} does not exist; starting a new run. "
                "If the run should resume, check the folder's name."
            )
            warnings.warn(message, UserWarning, stacklevel=4)
            return None
        found = _find_latest(folder, filename_prefix)
        return (found[0].name, found[1]) if found is not None else None

    picked: tuple[str, _Verified] | None = distributed.decide_on_rank(pick)
    if picked is None:
        logger.info("No valid checkpoint in %s: starting a new run.", dirname)
        return None
    path = folder / picked[0]
    Checkpoint.load_objects(to_load, _load_shared(path, picked[1], weights_only))
    logger.info("Resumed from checkpoint %s.", path)
    return path


# ---------------------------------------------------------------------------------------------- ranks


def _load_shared(path: Path, checked: _Verified, weights_only: bool) -> dict[str, Any]:
    """Load the checkpoint rank 0 verified (``checked``) on every rank, whether or not each rank's disk holds it."""
    if distributed.get_world_size() == 1:
        loaded = _torch_load(path, checked.kind, weights_only, "cpu")
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
        loaded = _torch_load(path, kind, weights_only, "cpu")
    else:
        # some node has no copy (or an older one): rank 0's checkpoint travels to every rank
        loaded = distributed.decide_on_rank(lambda: load_checkpoint(path, weights_only=weights_only))
    if not isinstance(loaded, dict):
        raise CorruptCheckpointError(f"Checkpoint {str(path)!r} holds a {type(loaded).__name__}, expected a dict.")
    return loaded


# ---------------------------------------------------------------------------------------------- savers


class SaveHandler(Protocol):
    """What a saver offers: write a checkpoint under a name, and remove one.

    :class:`Checkpoint` calls ``remove`` only on a :class:`BaseSaveHandler` (as ignite does): subclass it.
    """

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``checkpoint`` under ``filename``."""

    def remove(self, filename: str) -> None:
        """Delete the checkpoint saved under ``filename``."""


class BaseSaveHandler(metaclass=ABCMeta):
    """Base class of savers that :class:`Checkpoint` writes through (ignite's name and protocol).

    Subclass it to store checkpoints elsewhere (a bucket, a database): implement
    ``__call__(checkpoint, filename, metadata=None)`` to store one and ``remove(filename)`` to delete
    one, so that ``n_saved`` holds. ``metadata`` is ``{"basename", "score_name", "priority"}``. A
    plain function ``save(checkpoint, filename)`` works as a save handler too; nothing is removed then
    (nor through an object's ``remove`` unless it subclasses this class, as in ignite).

    As in ignite, the checkpoint that a save replaces (the kept one of the same file name, else the
    lowest kept one when ``n_saved`` are kept) is removed *before* the new one is written, so a saver
    that stores every checkpoint under one name of its own keeps the new one. (:class:`DiskSaver`
    itself writes the new file first, atomically, and then deletes the older one.)

    >>> class InMemory(BaseSaveHandler):
    ...     def __init__(self):
    ...         self.files = {}
    ...     def __call__(self, checkpoint, filename, metadata=None):
    ...         self.files[filename] = checkpoint
    ...     def remove(self, filename):
    ...         del self.files[filename]
    >>> import torch
    >>> from ember import Engine, Events
    >>> trainer = Engine(lambda engine, batch: None)
    >>> store = InMemory()
    >>> _ = trainer.add_event_handler(Events.EPOCH_COMPLETED, Checkpoint({"trainer": trainer}, store, n_saved=2))
    >>> _ = trainer.run([0], max_epochs=3)
    >>> sorted(store.files)
    ['trainer_2.pt', 'trainer_3.pt']
    """

    @abstractmethod
    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Store ``checkpoint`` under ``filename``."""

    @abstractmethod
    def remove(self, filename: str) -> None:
        """Delete the checkpoint stored under ``filename``."""


_TORCH_SAVE_OPTIONS = frozenset(inspect.signature(torch.save).parameters) - {"obj", "f"}


def _snapshot(value: Any, copy: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``value`` with every tensor copied by ``copy``; state dicts keep their type and torch's ``_metadata``."""
    if isinstance(value, torch.Tensor):
        return copy(value)
    if isinstance(value, Mapping):
        rebuilt: dict[Any, Any] = OrderedDict() if isinstance(value, OrderedDict) else {}
        for key, item in value.items():
            rebuilt[key] = _snapshot(item, copy)
        metadata = getattr(value, "_metadata", None)
        if metadata is not None:
            rebuilt._metadata = metadata  # type: ignore[attr-defined]  # torch's module versions, read on load
        return rebuilt
    return apply_to_tensors(value, copy)


def _check_save_on_rank(save_on_rank: int, owner: str) -> None:
    """A ValueError when no process of this run has rank ``save_on_rank`` (nothing would ever be written)."""
    world_size = distributed.get_world_size()
    if save_on_rank >= world_size:
        raise ValueError(
            f"{owner} got save_on_rank={save_on_rank}, but this run has world size {world_size} (ranks 0 to "
            f"{world_size - 1}), so no process would write the checkpoint. Pass save_on_rank=0, or a rank below "
            f"{world_size}."
        )


class DiskSaver(BaseSaveHandler):
    """Writes checkpoints to files in a folder, atomically and durably, optionally in the background.

    Each file is what ``torch.save`` writes (``torch.load(path)`` reads it) with a SHA-256 checksum
    in its zip archive's comment, written to a temporary file in the same folder, flushed,
    ``fsync``-ed, renamed over the final name and followed by an ``fsync`` of the folder.

    Args:
        dirname: the folder; it is created if missing (``create_dir=True``) and must be writable:
            both are checked now, not at the first save.
        atomic: write through a temporary file (the default). ``False`` writes the final file in
            place, which a crash can leave half-written (the checksum still tells).
        create_dir: create ``dirname`` when it does not exist.
        require_empty: refuse a folder that already holds entries named ``*.pt`` (hidden ones and
            folders too, as in ignite), so two runs do not mix their checkpoints. Pass ``False`` to
            continue a run in its own folder.
        save_on_rank: under ``torch.distributed``, the rank that checks the folder and writes.
        asynchronous: copy the state to CPU memory on the calling thread and write it from a
            background thread; at most one write is in flight (a new save waits for the previous
            one). A failed background write is raised by the next save or by :meth:`wait`.
        **torch_save_kwargs: passed to ``torch.save`` (``pickle_protocol`` ...).

    Temporary files left in the folder by a killed writer (``.name.PID-xxxx.partial``) are deleted
    when a saver is created on it, unless their process still runs.

    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     saver = DiskSaver(folder, asynchronous=True)
    ...     saver({"w": torch.ones(2)}, "model_1.pt")
    ...     saver.wait()  # returns once the file is durable
    ...     sorted(p.name for p in Path(folder).iterdir())
    ['model_1.pt']
    """

    def __init__(
        self,
        dirname: str | os.PathLike[str],
        atomic: bool = True,
        create_dir: bool = True,
        require_empty: bool = True,
        save_on_rank: int = 0,
        *,
        asynchronous: bool = False,
        **torch_save_kwargs: Any,
    ) -> None:
        if not isinstance(dirname, (str, os.PathLike)):
            raise TypeError(f"dirname must be a path (str or os.PathLike), got {type(dirname).__name__}.")
        for name, flag in (("atomic", atomic), ("create_dir", create_dir), ("require_empty", require_empty)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r} ({type(flag).__name__}).")
        unknown = sorted(set(torch_save_kwargs) - _TORCH_SAVE_OPTIONS)
        if unknown:
            raise TypeError(
                f"DiskSaver got unknown keyword arguments {unknown}. Extra keywords go to torch.save, which "
                f"accepts {sorted(_TORCH_SAVE_OPTIONS)}."
            )
        if isinstance(save_on_rank, bool) or not isinstance(save_on_rank, int) or save_on_rank < 0:
            raise ValueError(f"save_on_rank must be a rank (an integer >= 0), got {save_on_rank!r}.")
        self.dirname = Path(dirname).expanduser()
        self.atomic = atomic
        self.asynchronous = asynchronous
        self.save_on_rank = save_on_rank
        self.torch_save_kwargs = dict(torch_save_kwargs)
        #: ignite's name for :attr:`torch_save_kwargs`
        self.kwargs = self.torch_save_kwargs
        if distributed.get_rank() == save_on_rank:
            self._prepare_folder(create_dir, require_empty)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []  # one write, then the deletions it allows
        self._spare: list[torch.Tensor] = []
        self._lock = threading.Lock()

    def _prepare_folder(self, create_dir: bool, require_empty: bool) -> None:
        if not self.dirname.is_dir():
            if not create_dir:
                raise ValueError(
                    f"Checkpoint folder {str(self.dirname)!r} does not exist. Create it, or pass create_dir=True."
                )
            try:
                self.dirname.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise PermissionError(
                    f"Cannot create the checkpoint folder {str(self.dirname)!r} ({error}). "
                    "Pass a folder this process can write to."
                ) from error
        self._check_writable()
        removed = remove_stale_temporaries(self.dirname)
        if removed:
            logger.info("Removed temporary files that killed writers left in %s: %s", self.dirname, removed)
        if require_empty:
            # as in ignite, any entry named *.pt counts, hidden or not, file or folder
            present = sorted(entry.name for entry in self.dirname.iterdir() if entry.name.endswith(_EXTENSION))
            if present:
                raise ValueError(
                    f"Checkpoint folder {str(self.dirname)!r} already holds checkpoints {present[:5]}. Use a new "
                    "folder, or pass require_empty=False to continue the run that wrote them."
                )

    def _check_writable(self) -> None:
        probe = self.dirname / f".ember-write-probe-{os.getpid()}{TEMP_SUFFIX}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise PermissionError(
                f"Checkpoint folder {str(self.dirname)!r} is not writable ({error}). "
                "Pass a folder this process can write to."
            ) from error

    def _write(self, path: Path, checkpoint: Any) -> None:
        chunks = _encode(checkpoint, self.torch_save_kwargs)
        if self.atomic:
            write_atomic(path, chunks)
            return
        with path.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``checkpoint`` to ``dirname/filename`` (returns once it is durable, unless asynchronous).

        Under ``torch.distributed`` only rank ``save_on_rank`` writes.
        """
        _check_save_on_rank(self.save_on_rank, "DiskSaver")
        if distributed.get_rank() != self.save_on_rank:
            return
        path = self.dirname / filename
        if not self.asynchronous:
            self._write(path, checkpoint)
            return
        self.wait()
        # the copy happens here, on the training thread, so training may change the live tensors at once;
        # the previous snapshot's memory is reused (its write is done), which spares fresh page faults
        spares = iter(self._spare)
        used: list[torch.Tensor] = []

        def copy(tensor: torch.Tensor) -> torch.Tensor:
            spare = next(spares, None)
            if spare is not None and spare.shape == tensor.shape and spare.dtype == tensor.dtype:
                spare.copy_(tensor.detach())
            else:
                spare = tensor.detach().to("cpu", copy=True)
            used.append(spare)
            return spare

        snapshot = _snapshot(checkpoint, copy)
        self._spare = used
        self._submit(lambda: self._write(path, snapshot), f"writing checkpoint {str(path)!r}")

    def remove(self, filename: str) -> None:
        """Delete ``dirname/filename``; when asynchronous, queued behind the write in flight, and skipped if it fails.

        So an older checkpoint is never deleted before the newer one is durable.
        """
        if distributed.get_rank() != self.save_on_rank:
            return
        path = self.dirname / filename
        if not self.asynchronous:
            path.unlink(missing_ok=True)
            return
        with self._lock:
            write = self._pending[-1] if self._pending else None

        def delete() -> None:
            # the single worker ran the write first; if it failed, the file to delete is still needed
            if write is None or write.exception() is None:
                path.unlink(missing_ok=True)

        self._submit(delete, f"removing checkpoint {str(path)!r}")

    def _submit(self, work: Callable[[], None], what: str) -> None:
        def run() -> None:
            try:
                work()
            except Exception as error:
                raise RuntimeError(
                    f"Checkpoint saving failed in the background while {what}: {type(error).__name__}: {error}"
                ) from error

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-checkpoint")
            self._pending.append(self._executor.submit(run))

    def wait(self) -> None:
        """Block until the writes and deletions handed over so far are done; raise the first error on this thread."""
        with self._lock:
            pending, self._pending = self._pending, []
        errors = [error for error in (future.exception() for future in pending) if error is not None]
        if errors:
            raise errors[0]

    def list_files(self) -> list[str]:
        """Names of the checkpoint files now in the folder."""
        return sorted(path.name for path in _checkpoint_files(self.dirname, ""))


# ---------------------------------------------------------------------------------------------- Checkpoint


_PARALLEL_WRAPPERS = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)


def _unwrap(target: Any) -> Any:
    """The model inside a ``DataParallel``/``DistributedDataParallel``, so its keys carry no ``module.`` prefix."""
    return target.module if isinstance(target, _PARALLEL_WRAPPERS) else target


def _check_objects(objects: Any, method: str, where: str) -> None:
    """Every leaf of ``objects`` (nested dicts and lists allowed) has ``method``; keys are strings."""
    if callable(getattr(objects, method, None)):
        return
    if isinstance(objects, Mapping):
        for key, value in objects.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} keys must be strings, got {key!r} ({type(key).__name__}).")
            _check_objects(value, method, f"{where}[{key!r}]")
        return
    if isinstance(objects, (list, tuple)):
        for index, value in enumerate(objects):
            _check_objects(value, method, f"{where}[{index}]")
        return
    raise TypeError(
        f"{where} is a {type(objects).__name__}, which has no {method}() method. Pass objects with state_dict() "
        "and load_state_dict() (a model, an optimizer, the engine, a metric ...), or dicts and lists of them."
    )


def _check_to_save(to_save: Any, needs_load: bool = False) -> None:
    name = "to_load" if needs_load else "to_save"
    if not isinstance(to_save, Mapping):
        raise TypeError(
            f"{name} must be a dict of name -> object with state_dict(), got {type(to_save).__name__}. "
            f"Pass e.g. {{'model': model, 'optimizer': optimizer, 'trainer': trainer}}."
        )
    _check_objects(to_save, "load_state_dict" if needs_load else "state_dict", name)


def _state_dicts(objects: Any) -> Any:
    """The state dicts of ``objects``, in the same nesting of dicts and lists."""
    if callable(getattr(objects, "state_dict", None)):
        return _unwrap(objects).state_dict()
    if isinstance(objects, Mapping):
        return {key: _state_dicts(value) for key, value in objects.items()}
    return [_state_dicts(value) for value in objects]


def _tensor_shapes(value: Any, path: str, out: dict[str, tuple[int, ...]]) -> None:
    if isinstance(value, torch.Tensor):
        out[path] = tuple(value.shape)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _tensor_shapes(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _tensor_shapes(item, f"{path}[{index}]", out)


def _load_into(target: Any, saved: Any, where: str, strict: bool, module_kwargs: Mapping[str, Any]) -> None:
    """Load ``saved`` into ``target`` (an object, or dicts and lists of objects); ``where`` names it in errors."""
    if callable(getattr(target, "load_state_dict", None)):
        target = _unwrap(target)
        if isinstance(target, torch.nn.Module):
            current: dict[str, tuple[int, ...]] = {}
            incoming: dict[str, tuple[int, ...]] = {}
            _tensor_shapes(target.state_dict(), "", current)
            _tensor_shapes(saved, "", incoming)
            for path, shape in incoming.items():
                if path in current and current[path] != shape:
                    raise ValueError(
                        f"Tensor {where}.{path} has shape {list(shape)} in the checkpoint but {list(current[path])} "
                        f"in {where}. Load a checkpoint of the same model configuration."
                    )
            target.load_state_dict(saved, strict=strict, **module_kwargs)
        else:
            target.load_state_dict(saved)
        return
    if isinstance(target, Mapping):
        if not isinstance(saved, Mapping):
            raise ValueError(
                f"{where} is a dict of objects but the checkpoint holds a {type(saved).__name__} there. "
                "Load with the same nesting as to_save had."
            )
        missing = sorted(set(target) - set(saved))
        if missing:
            unexpected = sorted(set(saved) - set(target))
            raise ValueError(
                f"The checkpoint misses keys of {where}: missing {missing}, unexpected {unexpected}. "
                "Use the same names in to_load as in to_save."
            )
        for key, value in target.items():
            _load_into(value, saved[key], f"{where}[{key!r}]" if where != "to_load" else key, strict, module_kwargs)
        return
    if not isinstance(saved, (list, tuple)) or len(saved) != len(target):
        raise ValueError(
            f"{where} is a list of {len(target)} objects but the checkpoint holds "
            f"{f'a list of {len(saved)}' if isinstance(saved, (list, tuple)) else f'a {type(saved).__name__}'} there. "
            "Load with the same nesting as to_save had."
        )
    for index, (value, item) in enumerate(zip(target, saved)):
        _load_into(value, item, f"{where}[{index}]", strict, module_kwargs)


def _check_signature(function: Any, name: str, parameters: str, count: int) -> None:
    """``function`` is callable with ``count`` positional arguments (checked when it is given)."""
    if not callable(function):
        raise TypeError(f"{name} must be a function {parameters}, got {type(function).__name__}.")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return
    try:
        signature.bind(*([None] * count))
    except TypeError:
        raise TypeError(
            f"{name} must take {count} argument{'s' if count > 1 else ''} {parameters}, but its parameters are "
            f"{signature}. Define it as e.g. def {name}{parameters}: ..."
        ) from None


class CheckpointEvents(EventEnum):
    """The event a :class:`Checkpoint` fires on its engine after each checkpoint it writes."""

    SAVED_CHECKPOINT = "saved_checkpoint"


class _Saved(NamedTuple):
    priority: float | int
    filename: str


def _number(value: Any) -> float | int:
    """A kept checkpoint's priority as saved: an int stays an int, as in ignite's state dict."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


_PATTERN_FIELDS = frozenset({"filename_prefix", "name", "score", "score_name", "global_step", "ext"})
_SCORE_IN_NAME = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf"


class Checkpoint:
    """Saves ``to_save`` when its event fires, keeping the last (or best) ``n_saved`` checkpoints.

    Args:
        to_save: name -> object with ``state_dict()``: model, optimizer, scheduler, GradScaler, the
            engine, metrics, a :class:`~ember.data.ResumableLoader`, an :class:`RNGStates` ...; a
            value may also be a dict or list of such objects. A ``DataParallel`` or
            ``DistributedDataParallel`` model is saved without its ``module.`` prefix.
        save_handler: where checkpoints go: a :class:`DiskSaver`, a folder path (a ``DiskSaver``
            with default options is made for it), a :class:`BaseSaveHandler`, or a plain function
            ``save(checkpoint, filename[, metadata])`` (which never removes anything).
        filename_prefix: put in front of every file name.
        score_function: ``score_function(engine) -> number`` (or one-element tensor); given, the
            ``n_saved`` highest scores are kept instead of the latest checkpoints (negate a loss).
        score_name: the score's name in file names; given alone, the score is
            ``engine.state.metrics[score_name]`` (:meth:`get_default_score_fn`).
        n_saved: how many checkpoints to keep (``None``: all).
        global_step_transform: ``fn(engine, event) -> int``, the step in file names (e.g.
            ``global_step_from_engine(trainer)`` for a checkpoint on an evaluator).
        filename_pattern: a :meth:`str.format` pattern for file names with the fields
            ``{filename_prefix}``, ``{name}``, ``{global_step}``, ``{score_name}``, ``{score}``,
            ``{ext}``; by default :meth:`setup_filename_pattern`'s.
        include_self: also save this handler's list of kept files under ``"checkpointer"``.
        greater_or_equal: with a score, a new checkpoint scoring as well as the worst kept one
            replaces it (by default it must score higher).
        save_on_rank: under ``torch.distributed``, the rank that writes.

    After each checkpoint written, ``Checkpoint.SAVED_CHECKPOINT`` fires on the engine (on every
    rank). The handler registers that event on the engine when it is attached with :meth:`attach`
    or first called; register it yourself (``engine.register_events(*CheckpointEvents)``) to add
    handlers for it before that.

    File names are ignite's: ``{filename_prefix}_{name}_{global_step}_{score_name}={score}.pt``,
    where ``name`` is the single key of ``to_save`` or ``"checkpoint"``; the prefix part is left
    out without a prefix; the step is the engine's iteration when there is neither a score nor a
    ``global_step_transform`` (with a score and no transform there is no step); ``{score_name}=``
    is left out without a score name. A score is written with 4 decimals (an integer as it is).

    A checkpoint of a single object holds its bare state dict (``model.load_state_dict(
    torch.load(path))`` works); one of several holds ``{name: state_dict}``. A save whose file
    name is already kept replaces it. As in ignite, only the files this handler saved are known: files
    already in the folder (another run's) are neither counted towards ``n_saved`` nor removed, and a
    second ``run()`` of the same engine, whose steps are not higher than the kept ones, saves nothing
    (ember warns; attach :meth:`reset` to ``Events.STARTED`` for independent runs). To carry the list
    over a resume, save it with ``include_self=True`` and load it with the handler in ``to_load``
    under ``"checkpointer"``. Under ``torch.distributed`` every rank calls ``state_dict()`` on every object at every
    save (so collectives inside it are reached by all ranks), rank ``save_on_rank`` alone decides
    what to keep and writes, and the other ranks wait for it and learn the list of kept files.

    Attach with ``engine.add_event_handler(event, checkpoint)`` on any event, or
    :meth:`attach`. With an asynchronous saver, the handler also waits for the last write when the
    run completes, is interrupted or fails, so ``run()`` never returns before it is durable.

    >>> import tempfile, torch
    >>> from ember import Engine, Events
    >>> model = torch.nn.Linear(2, 1)
    >>> trainer = Engine(lambda engine, batch: None)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     checkpoint = Checkpoint({"model": model, "trainer": trainer}, folder, n_saved=2)
    ...     _ = trainer.add_event_handler(Events.ITERATION_COMPLETED(every=2), checkpoint)
    ...     _ = trainer.run(range(8), max_epochs=1)
    ...     sorted(path.name for path in Path(folder).iterdir())
    ['checkpoint_6.pt', 'checkpoint_8.pt']
    """

    SAVED_CHECKPOINT = CheckpointEvents.SAVED_CHECKPOINT
    #: a kept checkpoint, ``(priority, filename)``: the items of ``state_dict()["_saved"]`` (ignite's name)
    Item = _Saved

    def __init__(
        self,
        to_save: Mapping[str, Any],
        save_handler: Callable[..., Any] | str | os.PathLike[str],
        filename_prefix: str = "",
        score_function: Callable[[Engine], Any] | None = None,
        score_name: str | None = None,
        n_saved: int | None = 1,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        filename_pattern: str | None = None,
        include_self: bool = False,
        greater_or_equal: bool = False,
        save_on_rank: int = 0,
    ) -> None:
        _check_to_save(to_save)
        if not to_save and not isinstance(self, ModelCheckpoint):  # ModelCheckpoint gets to_save when attached
            raise ValueError("to_save is empty: pass at least one object to save, e.g. {'model': model}.")
        if include_self and "checkpointer" in to_save:
            raise ValueError(
                "to_save has a key 'checkpointer', which include_self=True needs for the handler's own state. "
                "Rename that key, or pass include_self=False."
            )
        if isinstance(save_on_rank, bool) or not isinstance(save_on_rank, int) or save_on_rank < 0:
            raise ValueError(f"save_on_rank must be a rank (an integer >= 0), got {save_on_rank!r}.")
        if isinstance(save_handler, (str, os.PathLike)):
            save_handler = DiskSaver(save_handler, save_on_rank=save_on_rank)
        if not callable(save_handler):
            raise TypeError(
                f"save_handler must be a DiskSaver, a folder path, a BaseSaveHandler or a function "
                f"save(checkpoint, filename[, metadata]), got {type(save_handler).__name__}."
            )
        self._saver_takes_metadata = self._check_saver(save_handler)
        if (
            not isinstance(save_handler, BaseSaveHandler)
            and getattr(save_handler, "collective", False) is not True
            and callable(getattr(save_handler, "remove", None))
        ):
            warnings.warn(
                f"save_handler ({type(save_handler).__name__}) has a remove() method but is not a BaseSaveHandler: "
                "as in ignite, Checkpoint never calls it, so checkpoints beyond n_saved are not deleted. Subclass "
                "ember.handlers.BaseSaveHandler to have them deleted.",
                UserWarning,
                stacklevel=2,
            )
        if n_saved is not None and (isinstance(n_saved, bool) or not isinstance(n_saved, int)):
            raise TypeError(f"n_saved must be a positive integer or None, got {n_saved!r} ({type(n_saved).__name__}).")
        if n_saved is not None and n_saved < 1:
            raise ValueError(f"n_saved must be >= 1 (or None to keep every checkpoint), got n_saved={n_saved}.")
        if score_name is not None and not isinstance(score_name, str):
            raise TypeError(f"score_name must be a string, got {type(score_name).__name__}.")
        if score_function is None and score_name is not None:
            score_function = self.get_default_score_fn(score_name)
        if score_function is not None:
            _check_signature(score_function, "score_function", "(engine)", 1)
        if global_step_transform is not None:
            _check_signature(global_step_transform, "global_step_transform", "(engine, event)", 2)
        if not isinstance(filename_prefix, str) or any(sep in filename_prefix for sep in "/\\"):
            raise ValueError(f"filename_prefix must be a string without path separators, got {filename_prefix!r}.")
        for name, flag in (("include_self", include_self), ("greater_or_equal", greater_or_equal)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r} ({type(flag).__name__}).")
        if filename_pattern is not None:
            self._check_pattern(filename_pattern, score_function is not None, global_step_transform is not None)
        self.to_save = to_save
        self.save_handler = save_handler
        self.filename_prefix = filename_prefix
        self.score_function = score_function
        self.score_name = score_name
        self.n_saved = n_saved
        self.global_step_transform = global_step_transform
        self.filename_pattern = filename_pattern
        self.include_self = include_self
        self.greater_or_equal = greater_or_equal
        self.save_on_rank = save_on_rank
        self.ext = _EXTENSION[1:]
        self._saved: list[_Saved] = []
        self._warned_stale_step = False
        self._wired: weakref.WeakSet[Engine] = weakref.WeakSet()

    @staticmethod
    def _check_saver(save_handler: Any) -> bool:
        """Whether ``save_handler`` takes the metadata argument; a TypeError if it takes neither form."""
        try:
            signature = inspect.signature(save_handler)
        except (TypeError, ValueError):
            return True
        for count in (3, 2):
            try:
                signature.bind(*([None] * count))
            except TypeError:
                continue
            return count == 3
        raise TypeError(
            f"save_handler must take (checkpoint, filename) or (checkpoint, filename, metadata), but its parameters "
            f"are {signature}."
        )

    @staticmethod
    def _check_pattern(pattern: Any, scored: bool = False, step_transform: bool = False) -> None:
        """Refuse a pattern that cannot name a file in the folder; ``scored``/``step_transform``: which are given."""
        if not isinstance(pattern, str):
            raise TypeError(f"filename_pattern must be a string, got {type(pattern).__name__}.")
        example = "e.g. '{filename_prefix}_{name}_{global_step}.{ext}'"
        if not pattern:
            raise ValueError(f"filename_pattern is empty. Give a pattern that names a file, {example}.")
        try:
            parsed = list(string.Formatter().parse(pattern))
        except ValueError as error:
            raise ValueError(
                f"filename_pattern {pattern!r} is not a valid str.format pattern ({error}). Give one like "
                f"{example[5:]}, with braces doubled ('{{{{', '}}}}') for literal braces."
            ) from None
        if any(sep in literal for literal, _, _, _ in parsed for sep in "/\\"):
            raise ValueError(
                f"filename_pattern {pattern!r} holds a path separator, but it names a file inside the save "
                f"handler's folder. Drop the separator ({example}), and pass the sub-folder as the save handler, "
                "e.g. DiskSaver('runs/best')."
            )
        fields = {field for _, field, _, _ in parsed if field is not None}
        unknown = sorted(fields - _PATTERN_FIELDS)
        if unknown:
            raise ValueError(
                f"filename_pattern {pattern!r} uses the unknown fields {unknown}. It may use "
                f"{sorted(_PATTERN_FIELDS)}, {example}."
            )
        # the values a save formats: the score is text (already rounded, as in ignite), the step an integer
        # (None with a score_function and no global_step_transform, as in ignite)
        step_is_none = scored and not step_transform
        sample = {
            "filename_prefix": "prefix",
            "name": "model",
            "global_step": None if step_is_none else 1,
            "score_name": "score",
            "score": "0.5000" if scored else None,
            "ext": "pt",
        }
        try:
            pattern.format(**sample)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            raise ValueError(
                f"filename_pattern {pattern!r} cannot be formatted ({error}). A save fills {{score}} with text "
                "(the score already rounded, e.g. '0.8123', or None without a score_function) and {global_step} "
                "with an integer (None with a score_function and no global_step_transform), so only a spec that "
                "fits such a value works, e.g. '{global_step:04d}'; drop the format spec, as in '{name}_{score}.{ext}'."
            ) from None
        if step_is_none and "global_step" in fields:
            warnings.warn(
                f"filename_pattern {pattern!r} has {{global_step}}, but with a score_function and no "
                "global_step_transform the global step is None (as in ignite): every file name holds 'None'. Pass "
                "global_step_transform=global_step_from_engine(trainer) to put the step in the name.",
                UserWarning,
                stacklevel=4,
            )
        if "global_step" not in fields and "score" not in fields:
            warnings.warn(
                f"filename_pattern {pattern!r} has neither {{global_step}} nor {{score}}: every save writes the "
                "same file name, which replaces the previous checkpoint.",
                UserWarning,
                stacklevel=4,
            )

    # -- naming

    @staticmethod
    def setup_filename_pattern(
        with_prefix: bool = True, with_score: bool = True, with_score_name: bool = True, with_global_step: bool = True
    ) -> str:
        """The default file name pattern, with or without each optional part (ignite's helper).

        >>> Checkpoint.setup_filename_pattern()
        '{filename_prefix}_{name}_{global_step}_{score_name}={score}.{ext}'
        >>> Checkpoint.setup_filename_pattern(with_prefix=False, with_score=False, with_score_name=False)
        '{name}_{global_step}.{ext}'
        """
        if not (with_global_step or with_score):
            raise ValueError(
                "setup_filename_pattern needs with_global_step or with_score (or both): a file name must change "
                "from one save to the next."
            )
        if with_score_name and not with_score:
            raise ValueError("with_score_name=True needs with_score=True: the name is written beside the score.")
        parts = ["{filename_prefix}"] if with_prefix else []
        parts.append("{name}")
        if with_global_step:
            parts.append("{global_step}")
        if with_score:
            parts.append("{score_name}={score}" if with_score_name else "{score}")
        return "_".join(parts) + ".{ext}"

    def _pattern(self) -> str:
        if self.filename_pattern is not None:
            return self.filename_pattern
        return self.setup_filename_pattern(
            with_prefix=bool(self.filename_prefix),
            with_score=self.score_function is not None,
            with_score_name=self.score_name is not None,
            with_global_step=self.global_step_transform is not None or self.score_function is None,
        )

    def _name(self) -> str:
        return next(iter(self.to_save)) if len(self.to_save) == 1 else "checkpoint"

    def _basename(self) -> str:
        return f"{self.filename_prefix}_{self._name()}" if self.filename_prefix else self._name()

    def _filename(self, global_step: int | None, score: float | int | None) -> str:
        score_text = None if score is None else (str(score) if isinstance(score, numbers.Integral) else f"{score:.4f}")
        filename = self._pattern().format(
            filename_prefix=self.filename_prefix,
            name=self._name(),
            global_step=global_step,
            score_name=self.score_name,
            score=score_text,
            ext=self.ext,
        )
        if not filename or any(sep in filename for sep in "/\\"):
            raise ValueError(
                f"filename_pattern gave the file name {filename!r}, which is empty or holds a path separator. "
                "Give a pattern that names a file in the save handler's folder."
            )
        return filename

    # -- saving

    @property
    def last_checkpoint(self) -> Path | str | None:
        """The kept checkpoint with the highest priority (the latest, or the best score), or ``None``.

        A ``Path`` in the folder for a :class:`DiskSaver`, else the file name (as in ignite).
        """
        if not self._saved:
            return None
        filename = self._saved[-1].filename
        return self.save_handler.dirname / filename if isinstance(self.save_handler, DiskSaver) else filename

    def reset(self) -> None:
        """Forget the kept checkpoints (the files stay), e.g. before the next fold of a cross-validation.

        ``trainer.add_event_handler(Events.STARTED, checkpoint.reset)`` starts every run afresh.
        """
        self._saved = []
        self._warned_stale_step = False

    def attach(self, engine: Engine, event: Any = Events.EPOCH_COMPLETED) -> None:
        """Save on ``event`` (any event, filtered or not)."""
        self._wire(engine)
        engine.add_event_handler(event, self, event)

    def _score(self, engine: Engine) -> float | int:
        if self.score_function is None:
            raise RuntimeError("internal error: _score without a score_function")
        raw = self.score_function(engine)
        if isinstance(raw, torch.Tensor) and raw.numel() == 1:
            raw = raw.item()  # a tensor metric, accepted as EarlyStopping and LRScheduler accept it
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real) or math.isnan(float(raw)):
            raise TypeError(
                f"score_function must return a real number, got {raw!r} ({type(raw).__name__}). Return e.g. "
                "engine.state.metrics['accuracy'] (a float), negated for a loss."
            )
        return int(raw) if isinstance(raw, numbers.Integral) else float(raw)

    def __call__(self, engine: Engine, event: Any = None) -> None:
        """Save a checkpoint now (when the score deserves it), then drop the ones no longer kept."""
        self._wire(engine)
        _check_save_on_rank(self.save_on_rank, type(self).__name__)
        global_step: int | None = None
        if self.global_step_transform is not None:
            if event is None:
                event = getattr(engine, "last_event_name", None)
            global_step = self.global_step_transform(engine, event)
            if isinstance(global_step, bool) or not isinstance(global_step, numbers.Integral):
                raise TypeError(
                    f"global_step_transform must return an integer, got {global_step!r} "
                    f"({type(global_step).__name__}). Return e.g. engine.state.epoch."
                )
            global_step = int(global_step)
        elif self.score_function is None:
            global_step = engine.state.iteration
        score = self._score(engine) if self.score_function is not None else None
        priority: float | int = score if score is not None else global_step if global_step is not None else 0
        filename = self._filename(global_step, score)
        # Every rank builds the state dicts before anything is decided, so that a collective inside a
        # state_dict() is reached by all ranks, whatever each rank knows about the files kept.
        # A collective saver (ShardedSaver) is called on every rank with the objects: each rank writes its shard.
        collective = getattr(self.save_handler, "collective", False) is True
        state = dict(self.to_save) if collective else _state_dicts(self.to_save)
        if distributed.get_world_size() == 1 or collective:
            if self._keep(state, filename, priority, global_step):
                engine.fire_event(CheckpointEvents.SAVED_CHECKPOINT)
            return

        def keep() -> tuple[bool, list[tuple[Any, ...]]]:
            written = self._keep(state, filename, priority, global_step)
            return written, [tuple(saved) for saved in self._saved]

        # rank save_on_rank alone decides and writes; the others learn the kept files, or its error
        written, kept = distributed.decide_on_rank(keep, self.save_on_rank)
        self._saved = [_Saved(priority, str(name)) for priority, name in kept]
        if written:
            engine.fire_event(CheckpointEvents.SAVED_CHECKPOINT)

    def _keep(self, state: dict[str, Any], filename: str, priority: float | int, global_step: int | None) -> bool:
        """Write ``state`` as ``filename`` if ``priority`` makes the cut (ignite's rule); True if written.

        The rule is ignite's: while fewer than ``n_saved`` are kept, every save is written; then only a
        save with a higher priority than the lowest kept one (or as high, with ``greater_or_equal``).
        A written save replaces the kept file of the same name if there is one, else the lowest kept.
        Only the files this object saved are known (not those already in the folder).
        """
        full = self.n_saved is not None and len(self._saved) >= self.n_saved
        if full:
            worst = self._saved[0].priority
            if not (priority >= worst if self.greater_or_equal else priority > worst):
                if self.score_function is None and not self._warned_stale_step:
                    self._warned_stale_step = True
                    warnings.warn(
                        f"Checkpoint did not save at global step {global_step}: it keeps n_saved={self.n_saved} "
                        f"checkpoints and the lowest kept step is {worst}, and (as in ignite) only a higher step is "
                        "saved. The engine was probably run again from the start: attach checkpoint.reset to "
                        "Events.STARTED to start each run's list of kept checkpoints afresh.",
                        UserWarning,
                        stacklevel=4,
                    )
                return False
        kept = list(self._saved)
        same_name = next((saved for saved in kept if saved.filename == filename), None)
        dropped: _Saved | None = None
        if same_name is not None:
            kept.remove(same_name)
            dropped = same_name
        elif full:
            dropped = kept.pop(0)
        kept.append(_Saved(priority, filename))
        kept.sort(key=lambda saved: saved.priority)
        collective = getattr(self.save_handler, "collective", False) is True
        checkpoint: Any = state[self._name()] if len(state) == 1 and not collective else dict(state)
        if self.include_self:
            checkpoint = {**state, "checkpointer": {"_saved": [tuple(saved) for saved in kept]}}
        remove: Callable[[str], Any] | None = (
            getattr(self.save_handler, "remove", None) if self._saver_removes else None
        )
        # ember's own savers write atomically and remove exactly the named file: the dropped file goes
        # once the new one is durable (a file of the same name is replaced atomically, not removed).
        # Any other saver sees ignite's order, the dropped file removed first: one that stores every
        # checkpoint under one name of its own would otherwise delete the checkpoint it just wrote.
        remove_first = remove is not None and not self._saver_is_own
        if remove is not None and remove_first and dropped is not None:
            remove(dropped.filename)
            self._saved = [saved for saved in self._saved if saved is not dropped]
        if self._saver_takes_metadata:
            self.save_handler(
                checkpoint,
                filename,
                {"basename": self._basename(), "score_name": self.score_name, "priority": priority},
            )
        else:
            self.save_handler(checkpoint, filename)
        self._saved = kept
        if remove is not None and not remove_first and dropped is not None and dropped.filename != filename:
            remove(dropped.filename)
        return True

    @property
    def _saver_removes(self) -> bool:
        """Whether dropped checkpoints are removed through the saver: ignite asks only a BaseSaveHandler."""
        return isinstance(self.save_handler, BaseSaveHandler) or self._saver_is_own

    @property
    def _saver_is_own(self) -> bool:
        """An ember saver (a DiskSaver itself, a collective ShardedSaver), whose remove(name) deletes only that name."""
        return type(self.save_handler) is DiskSaver or getattr(self.save_handler, "collective", False) is True

    def _wire(self, engine: Engine) -> None:
        """On first use with ``engine``: forget the last write when a run starts; wait for async writes at the end."""
        if engine in self._wired:
            return
        self._wired.add(engine)
        if not engine.has_registered_events(CheckpointEvents.SAVED_CHECKPOINT):
            engine.register_events(*CheckpointEvents)
        engine.add_event_handler(Events.STARTED, self._new_run)
        if callable(getattr(self.save_handler, "wait", None)):
            for event in (Events.COMPLETED, Events.INTERRUPT):
                engine.add_event_handler(event, self.wait)
            engine.add_event_handler(Events.EXCEPTION_RAISED, self._wait_on_failure)

    def _new_run(self, engine: Engine) -> None:
        _check_save_on_rank(self.save_on_rank, type(self).__name__)
        self._warned_stale_step = False

    def wait(self) -> None:
        """Block until every checkpoint handed to the saver is durable (a no-op for synchronous savers)."""
        wait = getattr(self.save_handler, "wait", None)
        if callable(wait):
            wait()

    def _wait_on_failure(self, engine: Engine, exception: BaseException) -> None:
        self.wait()

    def reload_objects(
        self, to_load: Mapping[str, Any], load_kwargs: Mapping[str, Any] | None = None, **filename_components: Any
    ) -> None:
        """Load the checkpoint of this handler's folder named by ``filename_components`` into ``to_load``.

        The file name is built as a save would build it, from ``global_step``, ``score`` and
        ``name`` (by default this handler's name); ``load_kwargs`` go to :meth:`load_objects`
        (``strict=False`` ...). Only for a :class:`DiskSaver`, whose folder is known.

        >>> import tempfile, torch
        >>> from ember import Engine
        >>> model = torch.nn.Linear(1, 1)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     checkpoint = Checkpoint({"model": model}, folder, n_saved=None)
        ...     checkpoint(Engine(lambda engine, batch: None))  # writes model_0.pt
        ...     checkpoint.reload_objects({"model": torch.nn.Linear(1, 1)}, global_step=0)
        """
        if not isinstance(self.save_handler, DiskSaver):
            raise TypeError(
                f"reload_objects needs a DiskSaver as save_handler, to know the folder; this one is a "
                f"{type(self.save_handler).__name__}. Load with Checkpoint.load_objects(to_load, path) instead."
            )
        unknown = sorted(set(filename_components) - {"global_step", "score", "name"})
        if unknown:
            raise TypeError(
                f"reload_objects got unknown file name components {unknown}: pass global_step=, score= or name=."
            )
        global_step = filename_components.get("global_step")
        score = filename_components.get("score")
        if self.filename_pattern is None:
            pattern = self.setup_filename_pattern(
                with_prefix=bool(self.filename_prefix),
                with_score=score is not None,
                with_score_name=score is not None and self.score_name is not None,
                with_global_step=global_step is not None or score is None,
            )
        else:
            pattern = self.filename_pattern
        filename = pattern.format(
            filename_prefix=self.filename_prefix,
            name=filename_components.get("name", self._name() if self.to_save else "checkpoint"),
            global_step=global_step,
            score_name=self.score_name,
            score=score,
            ext=self.ext,
        )
        self.load_objects(to_load, self.save_handler.dirname / filename, **dict(load_kwargs or {}))

    # -- state

    def state_dict(self) -> dict[str, Any]:
        """The kept files, as ignite writes them: ``{"_saved": [(priority, filename), ...]}``, lowest first."""
        return {"_saved": [tuple(saved) for saved in self._saved]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the list of kept files saved by :meth:`state_dict` (ember's earlier ``"saved"`` form loads too)."""
        if isinstance(state_dict, Mapping) and isinstance(state_dict.get("_saved"), (list, tuple)):
            entries = [(_number(priority), str(filename)) for priority, filename in state_dict["_saved"]]
        elif isinstance(state_dict, Mapping) and isinstance(state_dict.get("saved"), (list, tuple)):
            entries = [(_number(priority), str(filename)) for priority, _, filename in state_dict["saved"]]
        else:
            keys = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError(
                f"Checkpoint.load_state_dict needs {{'_saved': [(priority, filename), ...]}}, got {keys}. "
                "Pass a dict saved by Checkpoint.state_dict()."
            )
        self._saved = sorted((_Saved(*entry) for entry in entries), key=lambda saved: saved.priority)

    @staticmethod
    def get_default_score_fn(metric_name: str, score_sign: float = 1.0) -> Callable[[Engine], float]:
        """A score function reading ``engine.state.metrics[metric_name]``, times ``score_sign`` (-1.0 for a loss).

        >>> from ember import Engine
        >>> evaluator = Engine(lambda engine, batch: None)
        >>> evaluator.state.metrics = {"loss": 0.25}
        >>> Checkpoint.get_default_score_fn("loss", -1.0)(evaluator)
        -0.25
        """
        if not isinstance(metric_name, str):
            raise TypeError(f"metric_name must be a string, got {type(metric_name).__name__}.")
        if score_sign not in (1.0, -1.0) or isinstance(score_sign, bool):
            raise ValueError(
                f"score_sign must be 1.0 (higher is better) or -1.0 (lower is better), got {score_sign!r}."
            )

        def score(engine: Engine) -> float:
            metrics = engine.state.metrics
            if metric_name not in metrics:
                raise KeyError(
                    f"The score's metric {metric_name!r} is not in engine.state.metrics (it has {sorted(metrics)}). "
                    "Attach that metric to the engine this Checkpoint is added to, or fix score_name."
                )
            value: float = score_sign * metrics[metric_name]
            return value

        return score

    # -- loading

    @staticmethod
    def load_objects(
        to_load: Mapping[str, Any],
        checkpoint: Mapping[str, Any] | str | os.PathLike[str],
        *,
        strict: bool = True,
        weights_only: bool = True,
        **kwargs: Any,
    ) -> None:
        """Restore every object of ``to_load`` from ``checkpoint`` (a loaded dict or a file path).

        With a single key in ``to_load``, ``checkpoint`` may be that object's bare state dict (how a
        checkpoint of one object is saved) or a dict holding it under that key. Values of
        ``to_load`` may be dicts and lists of objects, as in ``to_save``. ``strict`` and ``kwargs``
        (e.g. ``assign=True``) go to ``torch.nn.Module.load_state_dict``; a ``DataParallel`` /
        ``DistributedDataParallel`` model loads into its inner module.

        Given a path under ``torch.distributed``, it is a collective: call it on every rank. Rank 0
        verifies its file; each rank with a byte-identical copy loads its own, and if any rank has
        none (nodes with their own disks) rank 0's checkpoint is sent to every rank. A dict is
        loaded locally.

        Raises:
            ValueError: a key of ``to_load`` is missing from the checkpoint (the message lists the
                missing and the unexpected keys), or a tensor's shape differs (the message names the
                tensor and both shapes).
            FileNotFoundError / CorruptCheckpointError: for a path with no valid checkpoint.

        >>> import torch
        >>> source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
        >>> Checkpoint.load_objects({"model": target}, source.state_dict())  # a bare state dict
        >>> torch.equal(source.weight, target.weight)
        True
        """
        _check_to_save(to_load, needs_load=True)
        if isinstance(checkpoint, (str, os.PathLike)):
            path = Path(checkpoint)
            checkpoint = _load_shared(path, distributed.decide_on_rank(lambda: _verify(path)), weights_only)
        if not isinstance(checkpoint, Mapping):
            raise TypeError(f"checkpoint must be a dict or a file path, got {type(checkpoint).__name__}.")
        if len(to_load) == 1:
            key, target = next(iter(to_load.items()))
            if key not in checkpoint:  # the bare state dict of a single object
                _load_into(target, checkpoint, key, strict, kwargs)
                return
        _load_into(to_load, checkpoint, "to_load", strict, kwargs)


class ModelCheckpoint(Checkpoint):
    """A :class:`Checkpoint` writing to a folder through a :class:`DiskSaver`; ``to_save`` comes at attach time.

    Its arguments are ignite's, in ignite's order; ``asynchronous`` and ``torch.save``'s keywords go
    to the :class:`DiskSaver`. Usage: ``handler.attach(engine, Events.EPOCH_COMPLETED, {"model":
    model})``, or ``engine.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": model})``
    (adding it without the objects fails right there). Give it to a
    :class:`~ember.handlers.PreemptionHandler` only after ``attach``, which tells it the objects
    at once. ``last_checkpoint`` is a ``Path``.

    >>> import tempfile, torch
    >>> from ember import Engine, Events
    >>> trainer = Engine(lambda engine, batch: None)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     handler = ModelCheckpoint(folder, "run", n_saved=None)
    ...     _ = trainer.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": torch.nn.Linear(1, 1)})
    ...     _ = trainer.run([0, 0], max_epochs=2)
    ...     sorted(path.name for path in Path(folder).iterdir())
    ['run_model_2.pt', 'run_model_4.pt']
    """

    save_handler: DiskSaver

    def __init__(
        self,
        dirname: str | os.PathLike[str],
        filename_prefix: str = "",
        score_function: Callable[[Engine], Any] | None = None,
        score_name: str | None = None,
        n_saved: int | None = 1,
        atomic: bool = True,
        require_empty: bool = True,
        create_dir: bool = True,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        filename_pattern: str | None = None,
        include_self: bool = False,
        greater_or_equal: bool = False,
        save_on_rank: int = 0,
        *,
        asynchronous: bool = False,
        **torch_save_kwargs: Any,
    ) -> None:
        saver = DiskSaver(
            dirname,
            atomic=atomic,
            create_dir=create_dir,
            require_empty=require_empty,
            save_on_rank=save_on_rank,
            asynchronous=asynchronous,
            **torch_save_kwargs,
        )
        super().__init__(
            {},
            saver,
            filename_prefix,
            score_function,
            score_name,
            n_saved,
            global_step_transform,
            filename_pattern,
            include_self,
            greater_or_equal,
            save_on_rank,
        )
        # What the engine checks when the handler is added: the objects to save are a required argument, so
        # add_event_handler(event, handler) without them fails there (ignite's form), not at the first save.
        # Calling it without them later (a PreemptionHandler) saves the objects it was attached with.
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter("engine", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                inspect.Parameter("to_save", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                inspect.Parameter("event", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
            ]
        )

    def attach(
        self, engine: Engine, event: Any = Events.EPOCH_COMPLETED, to_save: Mapping[str, Any] | None = None
    ) -> None:
        """Save ``to_save`` on ``event``; a later call without objects (e.g. by a PreemptionHandler) saves them too."""
        if to_save is None:
            raise TypeError(
                "ModelCheckpoint.attach needs the objects to save: call attach(engine, event, {'model': model})."
            )
        self._take(to_save)
        engine.add_event_handler(event, self, to_save, event)

    def _take(self, to_save: Any) -> None:
        _check_to_save(to_save)
        if not to_save:
            raise ValueError("to_save is empty: pass at least one object to save, e.g. {'model': model}.")
        if self.include_self and "checkpointer" in to_save:
            raise ValueError(
                "to_save has a key 'checkpointer', which include_self=True needs for the handler's own state. "
                "Rename that key, or pass include_self=False."
            )
        self.to_save = to_save

    def __call__(self, engine: Engine, to_save: Mapping[str, Any] | None = None, event: Any = None) -> None:  # type: ignore[override]
        """Save ``to_save`` (given through ``attach`` or ``add_event_handler``'s extra argument)."""
        if to_save is None:
            if not self.to_save:
                raise TypeError(
                    "ModelCheckpoint needs the objects to save: attach it with handler.attach(engine, event, "
                    "{'model': model}) or engine.add_event_handler(event, handler, {'model': model})."
                )
        elif to_save is not self.to_save:
            self._take(to_save)
        super().__call__(engine, event)
