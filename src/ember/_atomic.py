"""Atomic, durable file writes: a reader sees the old file or the new one, never half of one.

The recipe: write to a temporary file in the destination's folder (so ``os.replace`` stays on one
file system and is atomic), flush and ``fsync`` it, ``os.replace`` it over the destination, then
``fsync`` the folder so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "fsync_folder", "remove_stale_temporaries", "write_atomic"]

#: Suffix of the temporary files written next to the destination; never a finished file.
TEMP_SUFFIX = ".partial"

# ``.{destination}.{pid}-{12 hex digits}.partial``; files of the earlier naming, without the pid, match too
_TEMPORARY_NAME = re.compile(r"^\..+\.(?:(\d+)-)?[0-9a-f]{12}" + re.escape(TEMP_SUFFIX) + "$")
_in_flight: set[str] = set()  # temporary files this process is writing now (any thread)
_in_flight_lock = threading.Lock()


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make the entries of ``folder`` (a rename, a deletion) durable; a no-op where folders can't be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable once the call returns
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _create_temporary(folder: Path, name: str) -> tuple[int, str]:
    """Create a new, exclusive temporary file in ``folder``; the kernel applies the umask to 0o666.

    (``tempfile.mkstemp`` would give 0o600, and reading the umask to widen it means setting it,
    which races with other threads creating files.)
    """
    while True:
        # the pid in the name lets a later process tell a dead writer's leftover from a live writer's file
        temporary = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        with _in_flight_lock:
            _in_flight.add(os.path.abspath(temporary))
        return descriptor, temporary


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # it exists but belongs to someone else (or the platform can't tell)
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the temporary files that killed writers left in ``folder``; return their names.

    Only files named as :func:`write_atomic` names them are considered, and of those only files
    whose writer is gone: a process id that no longer exists on this machine, or this process
    itself when none of its threads is writing that file. A live writer's file is left alone.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(1)) if match.group(1) else None
        if pid == os.getpid():
            with _in_flight_lock:
                if os.path.abspath(entry.path) in _in_flight:
                    continue
        elif pid is not None and _process_exists(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


def write_atomic(path: str | os.PathLike[str], chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to ``path`` atomically and durably.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = pathlib.Path(folder) / "note.txt"
    ...     write_atomic(target, [b"hello ", b"world"])
    ...     target.read_bytes()
    b'hello world'
    """
    destination = Path(path)
    descriptor, temporary = _create_temporary(destination.parent, destination.name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        # the temporary file is ours alone: remove it so failures leave no debris, then re-raise
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        with _in_flight_lock:
            _in_flight.discard(os.path.abspath(temporary))
    fsync_folder(destination.parent)
