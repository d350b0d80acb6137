"""Finding the newest valid checkpoint in a folder, of plain files and of sharded folders alike, and resuming from it.

One rule for both kinds: candidates are the entries whose names start with the prefix (hidden ones
never: they are temporaries of writes and deletions in flight), ordered by the step in their name,
then by modification time, newest first. The first one that verifies is the newest valid
checkpoint; every damaged one before it is skipped with a ``UserWarning`` naming it and saying why.
An entry removed while the folder is read (an older checkpoint deleted by a running save) is no
error: it is simply no longer a candidate. Under ``torch.distributed`` rank 0 decides, and its
choice, or its error, reaches every rank.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ember import distributed
from ember.handlers.checkpoint.format import CorruptCheckpointError, _load_shared, _Verified, _verify
from ember.handlers.checkpoint.objects import load_objects
from ember.handlers.checkpoint.sharded import MARKER, load_sharded_checkpoint, verify_sharded_checkpoint

__all__ = [
    "find_latest_checkpoint",
    "find_latest_sharded_checkpoint",
    "resume_from_latest",
    "resume_from_latest_sharded",
]

logger = logging.getLogger("ember.handlers.checkpoint")

EXTENSION = ".pt"
# the step in a checkpoint's name (without ".pt"): "model_12", "best_model_12_accuracy=0.9000"
_STEP_IN_NAME = re.compile(r"_(\d+)(?:_[^=]+=[^_]+)?$")


def checkpoint_files(folder: Path, filename_prefix: str) -> list[Path]:
    """The checkpoint files (``*.pt``, not hidden) in ``folder`` whose names start with ``filename_prefix``."""
    if not folder.is_dir():
        return []
    return [
        entry
        for entry in folder.iterdir()
        if entry.name.endswith(EXTENSION)
        and not entry.name.startswith(".")
        and entry.name.startswith(filename_prefix)
        and entry.is_file()
    ]


def checkpoint_folders(folder: Path, filename_prefix: str) -> list[Path]:
    """The sharded checkpoint folders (not hidden, with a completion marker) in ``folder``."""
    if not folder.is_dir():
        return []
    return [
        entry
        for entry in folder.iterdir()
        if not entry.name.startswith(".") and entry.name.startswith(filename_prefix) and (entry / MARKER).is_file()
    ]


def _step_of(path: Path) -> int:
    name = path.name[: -len(EXTENSION)] if path.name.endswith(EXTENSION) else path.name
    match = _STEP_IN_NAME.search(name)
    return int(match.group(1)) if match else -1


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # removed since the folder was listed (a writer dropping an old checkpoint)
        return -1


def _newest_valid(candidates: list[Path], verify: Callable[[Path], Any], what: str) -> tuple[Path, Any] | None:
    """The newest of ``candidates`` that ``verify`` accepts, and what it returned; damaged ones are warned about."""
    candidates = sorted(candidates, key=lambda path: (_step_of(path), _modified(path)), reverse=True)
    for path in candidates:
        try:
            verified = verify(path)
        except (CorruptCheckpointError, FileNotFoundError) as error:
            warnings.warn(f"Skipping {what} {path}: {error}", UserWarning, stacklevel=4)
            continue
        return path, verified
    return None


def _find_file(folder: Path, filename_prefix: str) -> tuple[Path, _Verified] | None:
    return _newest_valid(checkpoint_files(folder, filename_prefix), _verify, "checkpoint")


def _find_folder(folder: Path, filename_prefix: str) -> tuple[Path, dict[str, Any]] | None:
    return _newest_valid(checkpoint_folders(folder, filename_prefix), verify_sharded_checkpoint, "sharded checkpoint")


def find_latest_checkpoint(dirname: str | os.PathLike[str], filename_prefix: str = "") -> Path | None:
    """The newest complete checkpoint file in ``dirname``, or ``None`` if it holds none.

    Newest means the highest step in the file name (then the latest modification time). Truncated
    or corrupted files are skipped with a warning naming them, so a crash during a write falls back
    to the previous checkpoint.

    >>> import tempfile, torch
    >>> from ember.handlers import DiskSaver
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for step in (10, 20):
    ...         DiskSaver(folder, require_empty=False)({"step": step}, f"checkpoint_{step}.pt")
    ...     find_latest_checkpoint(folder).name
    'checkpoint_20.pt'
    """
    found = _find_file(Path(dirname), filename_prefix)
    return found[0] if found is not None else None


def find_latest_sharded_checkpoint(dirname: str | os.PathLike[str], filename_prefix: str = "") -> Path | None:
    """The newest complete sharded checkpoint folder in ``dirname``, or ``None`` if there is none.

    Newest means the highest step in the folder name (then the latest modification time). Folders
    left by a save that did not finish (hidden temporary names, or no completion marker) are never
    returned; a damaged one (a shard or the index missing or short) is skipped with a warning that
    names it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     find_latest_sharded_checkpoint(folder) is None
    True
    """
    found = _find_folder(Path(dirname), filename_prefix)
    return found[0] if found is not None else None


def _pick_on_rank_zero(folder: Path, find: Callable[[], Any], caller: str) -> Any:
    """Rank 0 runs ``find`` (warning first if ``folder`` does not exist); every rank gets its answer or its error."""

    def pick() -> Any:
        if not folder.is_dir():
            message = (
                f"{caller}: the checkpoint folder {str(folder)!r} does not exist; starting a new run. "
                "If the run should resume, check the folder's name."
            )
            warnings.warn(message, UserWarning, stacklevel=5)
            return None
        return find()

    return distributed.decide_on_rank(pick)


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

    def find() -> tuple[str, _Verified] | None:
        found = _find_file(folder, filename_prefix)
        return (found[0].name, found[1]) if found is not None else None

    picked: tuple[str, _Verified] | None = _pick_on_rank_zero(folder, find, "resume_from_latest")
    if picked is None:
        logger.info("No valid checkpoint in %s: starting a new run.", dirname)
        return None
    path = folder / picked[0]
    load_objects(to_load, _load_shared(path, picked[1], weights_only))
    logger.info("Resumed from checkpoint %s.", path)
    return path


def resume_from_latest_sharded(
    to_load: Mapping[str, Any], dirname: str | os.PathLike[str], filename_prefix: str = "", *, weights_only: bool = True
) -> Path | None:
    """Load the newest complete sharded checkpoint of ``dirname`` into ``to_load``; return it, or ``None``.

    Every rank calls it. Rank 0 picks the folder and tells the others, so all ranks load the same
    checkpoint (an error of rank 0's, e.g. an unreadable folder, is raised on every rank). With no
    complete checkpoint in ``dirname`` (or no such folder, which is warned about in case its name is
    mistyped) nothing is loaded and the run starts fresh; damaged folders are skipped with a warning.

    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     resume_from_latest_sharded({"model": torch.nn.Linear(2, 1)}, folder) is None
    True
    """
    folder = Path(dirname)

    def find() -> str | None:
        found = _find_folder(folder, filename_prefix)
        return str(found[0]) if found is not None else None

    chosen: str | None = _pick_on_rank_zero(folder, find, "resume_from_latest_sharded")
    if chosen is None:
        logger.info("No complete sharded checkpoint in %s: starting a new run.", dirname)
        return None
    load_sharded_checkpoint(to_load, chosen, weights_only=weights_only)
    logger.info("Resumed from sharded checkpoint %s.", chosen)
    return Path(chosen)
