"""Atomic, durable file writes: a reader sees the old file or the new one, never half of one.

The recipe: write to a temporary file in the destination's folder (so ``os.replace`` stays on one
file system and is atomic), flush and ``fsync`` it, ``os.replace`` it over the destination, then
``fsync`` the folder so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "fsync_folder", "write_atomic"]

#: Suffix of the temporary files written next to the destination; never a finished file.
TEMP_SUFFIX = ".partial"


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
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            return os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            ), temporary
        except FileExistsError:
            continue


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
    fsync_folder(destination.parent)
