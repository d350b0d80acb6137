"""Save handlers: where :class:`~ember.handlers.Checkpoint` writes, and how (atomically, in the background).

:class:`BaseSaveHandler` is ignite's protocol for a store of checkpoints (write one under a name,
remove one). :class:`DiskSaver` writes files to a folder with :func:`ember._atomic.write_atomic`, so a
crash at any moment leaves every finished checkpoint intact, optionally from a background thread
(one write in flight; the state is copied to CPU memory on the training thread first).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import torch

from ember import distributed
from ember._atomic import TEMP_SUFFIX, remove_stale_temporaries, write_atomic
from ember.handlers.checkpoint.discovery import EXTENSION, checkpoint_files
from ember.handlers.checkpoint.format import _encode
from ember.utils import apply_to_tensors

__all__ = ["BaseSaveHandler", "DiskSaver", "SaveHandler"]

logger = logging.getLogger("ember.handlers.checkpoint")


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
    >>> from ember.handlers import Checkpoint
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
            present = sorted(entry.name for entry in self.dirname.iterdir() if entry.name.endswith(EXTENSION))
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
        return sorted(path.name for path in checkpoint_files(self.dirname, ""))
