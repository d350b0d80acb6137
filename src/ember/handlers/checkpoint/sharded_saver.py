"""ShardedSaver: a save handler that writes sharded checkpoint folders, every rank its own shard.

:class:`ShardedSaver` is a save handler for :class:`~ember.handlers.Checkpoint` (and so for
:class:`~ember.handlers.PreemptionHandler`) that writes each checkpoint as a folder in the format of
:mod:`ember.handlers.checkpoint.sharded`. The folder is written under a hidden temporary name and
renamed by rank 0 to its final name only when every rank's shard, the index and the marker are on
disk, so a save cut short (a killed rank, a full disk) never leaves a folder that
:func:`~ember.handlers.find_latest_sharded_checkpoint` would pick. Older checkpoints are deleted only
after the newer one is complete.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from ember import distributed
from ember._atomic import TEMP_SUFFIX, fsync_folder, write_atomic
from ember._torch_version import SHARDED_CHECKPOINT_TORCH, require_torch
from ember.handlers.checkpoint.discovery import EXTENSION, checkpoint_folders
from ember.handlers.checkpoint.sharded import (
    FEATURE,
    FORMAT,
    MARKER,
    _hush_single_process_notice,
    _no_dist,
    _objects_file,
    _sharded_state,
    _split,
)

__all__ = ["ShardedSaver"]

logger = logging.getLogger("ember.handlers.sharded_checkpoint")


def _stem(filename: str) -> str:
    """The folder name of the checkpoint :class:`Checkpoint` calls ``filename`` (``model_8.pt`` -> ``model_8``)."""
    return filename[: -len(EXTENSION)] if filename.endswith(EXTENSION) else filename


class ShardedSaver:
    """A save handler for :class:`~ember.handlers.Checkpoint` that writes sharded checkpoint folders.

    Args:
        dirname: the folder holding the checkpoint folders; created if missing (``create_dir``).
        async_save: stage the state in memory on the training thread, then write it from a
            background thread (DCP's ``async_save``) while training goes on. At most one save is in
            flight: the next save (or :meth:`wait`, which ``Checkpoint`` calls when the run ends)
            waits for it, and raises its error, if any, on the training thread.
        create_dir: create ``dirname`` when it does not exist.
        require_empty: refuse a folder that already holds complete checkpoints, so two runs do not
            mix theirs. Pass ``False`` to continue a run in its own folder.

    Every rank builds the saver and every rank's ``Checkpoint`` calls it (``collective = True``):
    models and optimizers of ``to_save`` go through DCP, each rank writing its shard; the other
    objects are written by each rank in a small file. ``Checkpoint`` decides on every rank which
    checkpoints to keep, so a ``score_function`` must give the same score on every rank (ember's
    metrics do: they are reduced across ranks). Load with :func:`resume_from_latest_sharded` or
    :func:`load_sharded_checkpoint`. Needs torch 2.4 or newer (a ``RuntimeError`` says so here on an
    older one); a model sharded with FSDP2 needs torch 2.9.

    Example (each rank of a ``torchrun`` job)::

        from ember.handlers import Checkpoint, RNGStates
        from ember.handlers.sharded_checkpoint import ShardedSaver, resume_from_latest_sharded

        to_save = {"model": model, "optimizer": optimizer, "trainer": trainer, "rng": RNGStates()}
        resume_from_latest_sharded(to_save, "checkpoints")
        checkpoint = Checkpoint(to_save, ShardedSaver("checkpoints", require_empty=False), n_saved=2)
        trainer.add_event_handler(Events.ITERATION_COMPLETED(every=500), checkpoint)
    """

    #: ``Checkpoint`` calls a collective saver on every rank, with the objects themselves.
    collective = True

    def __init__(
        self,
        dirname: str | os.PathLike[str],
        *,
        async_save: bool = False,
        create_dir: bool = True,
        require_empty: bool = True,
    ) -> None:
        require_torch(SHARDED_CHECKPOINT_TORCH, FEATURE)
        if not isinstance(dirname, (str, os.PathLike)):
            raise TypeError(f"dirname must be a path (str or os.PathLike), got {type(dirname).__name__}.")
        if not isinstance(async_save, bool):
            raise TypeError(f"async_save must be True or False, got {async_save!r}.")
        self.dirname = Path(dirname)
        self.async_save = async_save
        if not self.dirname.is_dir():
            if not create_dir:
                raise ValueError(
                    f"Checkpoint folder {str(self.dirname)!r} does not exist. Create it, or pass create_dir=True."
                )
            self.dirname.mkdir(parents=True, exist_ok=True)
        if not os.access(self.dirname, os.W_OK | os.X_OK):
            raise PermissionError(
                f"Checkpoint folder {str(self.dirname)!r} is not writable. Pass a folder this process can write to."
            )
        if require_empty:
            present = sorted(path.name for path in checkpoint_folders(self.dirname, ""))
            if present:
                raise ValueError(
                    f"Checkpoint folder {str(self.dirname)!r} already holds checkpoints {present[:5]}. Use a new "
                    "folder, or pass require_empty=False to continue the run that wrote them."
                )
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []  # the save in flight, then the deletions it allows
        self._group: Any = None  # a process group of the background saves' own, created at the first one
        self._cleared = False

    # -- saving

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``checkpoint`` (name -> object) as the folder ``dirname/<filename without .pt>``; every rank calls it.

        Synchronous: returns once the folder is complete on disk. Asynchronous: returns once the
        state is staged in memory; the folder is complete later (see :meth:`wait`).
        """
        self.wait()
        stem = _stem(filename)
        if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
            raise ValueError(f"filename must be a plain file name, got {filename!r}.")
        agreed = distributed.decide_on_rank(lambda: stem)
        if agreed != stem:
            raise RuntimeError(
                f"Rank {distributed.get_rank()} saves the checkpoint {stem!r} while rank 0 saves {agreed!r}: the "
                "ranks disagree on what to save. Give Checkpoint a score_function and global_step_transform that "
                "give the same value on every rank (reduce a rank-local score with ember.distributed.all_reduce)."
            )
        modules, optimizers, others = _split(checkpoint, "to_save")
        sharded = _sharded_state(modules, optimizers, "to_save")
        # the small objects are serialised now, on the training thread, so training may change them at once
        objects_bytes: bytes | None = None
        if others:
            buffer = io.BytesIO()
            state = {key: value if isinstance(value, Mapping) else value.state_dict() for key, value in others.items()}
            torch.save(state, buffer)
            objects_bytes = buffer.getvalue()
        world_size, rank = distributed.get_world_size(), distributed.get_rank()
        marker = {
            "format": FORMAT,
            "version": 1,
            "world_size": world_size,
            "sharded": sorted(sharded),
            "objects": sorted(others),
            "filename": filename,
        }
        temporary = self.dirname / f".{stem}{TEMP_SUFFIX}"
        final = self.dirname / stem

        def prepare() -> None:
            if not self._cleared:
                self._clear_unfinished()
            # left by a save of this name that did not finish: never a checkpoint, safe to clear
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir()

        distributed.decide_on_rank(prepare)  # rank 0 makes the folder; if it cannot, every rank raises

        def finish() -> None:
            if objects_bytes is not None:
                write_atomic(temporary / _objects_file(rank), [objects_bytes])
            self._barrier()

            def publish() -> None:
                write_atomic(temporary / MARKER, [json.dumps(marker, indent=1).encode()])
                self._publish(temporary, final)

            # rank 0 completes the folder; a failure there is raised on every rank (none waits for it)
            distributed.decide_on_rank(publish, group=self._group if self.async_save else None)

        from torch.distributed.checkpoint.state_dict_saver import async_save, save

        no_dist = not distributed.is_distributed()
        if no_dist:
            _hush_single_process_notice()
        if not self.async_save:
            save(sharded, checkpoint_id=str(temporary), **_no_dist(save))
            finish()
            return
        if self._group is None and not no_dist:
            import torch.distributed as dist

            # background saves talk on a group of their own, so their messages never interleave with training's
            self._group = dist.new_group(backend="gloo")
        written = async_save(sharded, checkpoint_id=str(temporary), process_group=self._group, **_no_dist(async_save))

        def complete() -> None:
            future: Any = written
            future.result()
            finish()

        self._submit(complete, f"writing checkpoint {str(final)!r}")

    def _clear_unfinished(self) -> None:
        """Delete the hidden folders of saves and deletions that an earlier, killed process left (rank 0, once).

        Before this saver's first save nothing of its own is in flight, and one run writes a folder at a
        time (``require_empty``), so every such folder is debris: often as large as a whole checkpoint.
        """
        self._cleared = True
        for entry in self.dirname.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_dir():
                logger.info("Removing %s, left by a sharded save or deletion that did not finish.", entry)
                shutil.rmtree(entry, ignore_errors=True)

    def _barrier(self) -> None:
        """A barrier on the group of the thread running it: the background saves' own group, or the default one."""
        if not distributed.is_distributed():
            return
        if self._group is not None and self.async_save:
            import torch.distributed as dist

            dist.barrier(group=self._group)
        else:
            distributed.barrier()

    def _publish(self, temporary: Path, final: Path) -> None:
        """Give the complete folder its final name (rank 0); a folder of that name is replaced."""
        fsync_folder(temporary)
        previous: Path | None = None
        if final.exists():
            previous = final.with_name(f".{final.name}.replaced-{secrets.token_hex(4)}{TEMP_SUFFIX}")
            os.replace(final, previous)
        os.replace(temporary, final)
        fsync_folder(self.dirname)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def remove(self, filename: str) -> None:
        """Delete the checkpoint folder of ``filename`` (rank 0; after the save in flight, and not if it failed).

        The folder is first renamed to a hidden name, so a crash during the deletion never leaves a
        half-deleted folder under a checkpoint's name.
        """
        if distributed.get_rank() != 0:
            return
        final = self.dirname / _stem(filename)

        def delete() -> None:
            if not final.exists():
                return
            doomed = final.with_name(f".{final.name}.removed-{secrets.token_hex(4)}{TEMP_SUFFIX}")
            os.replace(final, doomed)
            fsync_folder(self.dirname)
            shutil.rmtree(doomed, ignore_errors=True)

        if not self.async_save or not self._pending:
            delete()
            return
        write = self._pending[-1]

        def delete_if_written() -> None:
            if write.exception() is None:
                delete()

        self._submit(delete_if_written, f"removing checkpoint {str(final)!r}")

    def _submit(self, work: Callable[[], None], what: str) -> None:
        def run() -> None:
            try:
                work()
            except Exception as error:
                raise RuntimeError(
                    f"Sharded checkpoint saving failed in the background while {what}: {type(error).__name__}: {error}"
                ) from error

        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-sharded-checkpoint")
        self._pending.append(self._executor.submit(run))

    def wait(self) -> None:
        """Block until the save in flight (and the deletions queued behind it) are done; raise the first error."""
        pending, self._pending = self._pending, []
        errors = [error for error in (future.exception() for future in pending) if error is not None]
        if errors:
            raise errors[0]

    def list_files(self) -> list[str]:
        """The names of the complete checkpoints as rank 0 sees them, as ``Checkpoint`` calls them (``<folder>.pt``)."""
        return distributed.decide_on_rank(
            lambda: sorted(path.name + EXTENSION for path in checkpoint_folders(self.dirname, ""))
        )
