"""Sharded checkpoints: every rank writes its own shard with ``torch.distributed.checkpoint`` (DCP).

A model sharded by :func:`ember.distributed.sharding.shard_model` never exists whole on one rank, so
it cannot be written as one file by rank 0. :class:`ShardedSaver` is a save handler for
:class:`~ember.handlers.Checkpoint` (and so for :class:`~ember.handlers.PreemptionHandler`) that
writes each checkpoint as a folder:

- the models and optimizers of ``to_save``, through DCP (``get_state_dict``): each rank writes the
  part it holds (``__<rank>_0.distcp``) and rank 0 writes the index (``.metadata``);
- every other object (the engine, schedulers, :class:`~ember.handlers.RNGStates`, the data loader's
  position ...), small, as one ``torch.save`` file per rank (``objects_rank<r>.pt``: the random
  generators differ between ranks);
- a completion marker (``ember-checkpoint.json``), written last.

The folder is written under a hidden temporary name and renamed by rank 0 to its final name only
when every rank's shard, the index and the marker are on disk, so a save cut short (a killed rank,
a full disk) never leaves a folder that :func:`find_latest_sharded_checkpoint` would pick. Older
checkpoints are deleted only after the newer one is complete. DCP re-shards on load, so a checkpoint
written by N ranks resumes on M ranks (also M = 1, an unsharded model).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import shutil
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ember import distributed
from ember._atomic import TEMP_SUFFIX, fsync_folder, write_atomic
from ember.handlers.checkpoint import Checkpoint, CorruptCheckpointError, load_checkpoint

__all__ = [
    "ShardedSaver",
    "dcp_to_torch_save",
    "find_latest_sharded_checkpoint",
    "load_sharded_checkpoint",
    "resume_from_latest_sharded",
    "verify_sharded_checkpoint",
]

logger = logging.getLogger(__name__)

#: Name of the completion marker inside a checkpoint folder; a folder without it is never loaded.
MARKER = "ember-checkpoint.json"
_FORMAT = "ember.sharded-checkpoint"
_EXTENSION = ".pt"
_STEP_IN_NAME = re.compile(r"_(\d+)(?:_[^=]+=[^_]+)?$")


def _hush_single_process_notice() -> None:
    """Hide DCP's notice that, without a process group, it saves or loads in one process: ember asks exactly that.

    DCP gives it on every such call, and for an asynchronous save from its own background thread,
    which a ``catch_warnings`` block around the call cannot reach; so a filter for that one message
    is put in place (``filterwarnings`` keeps a single copy of it however often it is added).
    """
    warnings.filterwarnings("ignore", message=r"torch\.distributed is disabled, unavailable or uninitialized")


def _objects_file(rank: int) -> str:
    return f"objects_rank{rank}.pt"


def _stem(filename: str) -> str:
    """The folder name of the checkpoint :class:`Checkpoint` calls ``filename`` (``model_8.pt`` -> ``model_8``)."""
    return filename[: -len(_EXTENSION)] if filename.endswith(_EXTENSION) else filename


def _owner_of(optimizer: torch.optim.Optimizer, modules: Mapping[str, nn.Module], key: str, what: str) -> nn.Module:
    """The module of ``modules`` whose parameters ``optimizer`` updates (DCP names optimizer state by them)."""
    wanted = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
    for module in modules.values():
        if any(id(parameter) in wanted for parameter in module.parameters()):
            return module
    raise ValueError(
        f"{what}[{key!r}] is an optimizer, but {what} holds no model with the parameters it updates: a sharded "
        f"checkpoint names optimizer state by the model's parameter names. Put the model in {what} as well, e.g. "
        f"{{'model': model, {key!r}: optimizer, ...}}."
    )


def _split(objects: Mapping[str, Any], what: str) -> tuple[dict[str, nn.Module], dict[str, Any], dict[str, Any]]:
    """Sort ``objects`` into models, optimizers (written by DCP) and everything else (small, one file per rank)."""
    if not isinstance(objects, Mapping):
        raise TypeError(
            f"{what} must be a dict of name -> object, got {type(objects).__name__}. Pass e.g. "
            "{'model': model, 'optimizer': optimizer, 'trainer': trainer}."
        )
    modules: dict[str, nn.Module] = {}
    optimizers: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for key, value in objects.items():
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(f"{what} keys must be non-empty strings without dots, got {key!r}.")
        if isinstance(value, nn.Module):
            modules[key] = value
        elif isinstance(value, torch.optim.Optimizer):
            optimizers[key] = value
        else:
            others[key] = value
    return modules, optimizers, others


def _sharded_state(
    modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer], what: str
) -> dict[str, Any]:
    """The DCP state dict of the models and optimizers, as ``{key: state_dict}`` (sharded where they are)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state: dict[str, Any] = {key: get_model_state_dict(module) for key, module in modules.items()}
    for key, optimizer in optimizers.items():
        state[key] = get_optimizer_state_dict(_owner_of(optimizer, modules, key, what), optimizer)
    return state


def _marker(path: Path) -> dict[str, Any]:
    marker = path / MARKER
    try:
        content = json.loads(marker.read_text())
    except FileNotFoundError:
        raise CorruptCheckpointError(
            f"Sharded checkpoint {str(path)!r} has no completion marker ({MARKER}): the save that wrote it did not "
            "finish (a rank was killed, or the disk filled up). Delete the folder and load an older checkpoint "
            "(find_latest_sharded_checkpoint skips such folders)."
        ) from None
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f"Sharded checkpoint {str(path)!r} has an unreadable completion marker ({error}). Delete the folder and "
            "load an older checkpoint."
        ) from error
    if not isinstance(content, dict) or content.get("format") != _FORMAT:
        raise CorruptCheckpointError(
            f"{str(path / MARKER)!r} is not the marker of an ember sharded checkpoint. Pass a folder written by "
            "ShardedSaver."
        )
    return content


def verify_sharded_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that the checkpoint folder ``path`` is complete; return its marker (keys, world size).

    Complete means: the completion marker, DCP's index (``.metadata``), every shard file the index
    names with at least the bytes it names, and each writing rank's file of small objects.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        CorruptCheckpointError: something is missing or cut short (the message says what).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"No sharded checkpoint folder at {str(path)!r}. Pass a folder written by ShardedSaver "
            "(find_latest_sharded_checkpoint(dirname) finds the newest complete one)."
        )
    marker = _marker(path)
    from torch.distributed.checkpoint.filesystem import FileSystemReader

    try:
        metadata = FileSystemReader(str(path)).read_metadata()
    except Exception as error:
        raise CorruptCheckpointError(
            f"Sharded checkpoint {str(path)!r} has no readable DCP index (.metadata): {type(error).__name__}: "
            f"{error}. Delete the folder and load an older checkpoint."
        ) from error
    needed: dict[str, int] = {}
    for info in (metadata.storage_data or {}).values():
        relative = getattr(info, "relative_path", None)
        if relative is not None:
            needed[relative] = max(needed.get(relative, 0), int(info.offset) + int(info.length))
    for relative, size in sorted(needed.items()):
        shard = path / relative
        actual = shard.stat().st_size if shard.is_file() else -1
        if actual < size:
            raise CorruptCheckpointError(
                f"Sharded checkpoint {str(path)!r} is incomplete: its shard {relative!r} "
                f"{'is missing' if actual < 0 else f'has {actual} bytes, fewer than the {size} its index names'}. "
                "Delete the folder and load an older checkpoint."
            )
    for rank in range(int(marker.get("world_size", 1))):
        if marker.get("objects") and not (path / _objects_file(rank)).is_file():
            raise CorruptCheckpointError(
                f"Sharded checkpoint {str(path)!r} is incomplete: rank {rank}'s {_objects_file(rank)} is missing. "
                "Delete the folder and load an older checkpoint."
            )
    return marker


def _checkpoint_folders(dirname: Path, filename_prefix: str) -> list[Path]:
    if not dirname.is_dir():
        return []
    return [
        entry
        for entry in dirname.iterdir()
        if not entry.name.startswith(".") and entry.name.startswith(filename_prefix) and (entry / MARKER).is_file()
    ]


def _step_of(path: Path) -> int:
    match = _STEP_IN_NAME.search(path.name)
    return int(match.group(1)) if match else -1


def find_latest_sharded_checkpoint(dirname: str | os.PathLike[str], filename_prefix: str = "") -> Path | None:
    """The newest complete sharded checkpoint folder in ``dirname``, or ``None`` if there is none.

    Newest means the highest step in the folder name (then the latest modification time). Folders
    left by a save that did not finish (hidden temporary names, or no completion marker, or a shard
    missing or short) are never returned; a damaged one is skipped with a warning that names it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     find_latest_sharded_checkpoint(folder) is None
    True
    """
    folders = _checkpoint_folders(Path(dirname), filename_prefix)
    folders.sort(key=lambda path: (_step_of(path), path.stat().st_mtime_ns), reverse=True)
    for path in folders:
        try:
            verify_sharded_checkpoint(path)
        except (CorruptCheckpointError, FileNotFoundError) as error:
            logger.warning("Skipping sharded checkpoint %s: %s", path, error)
            continue
        return path
    return None


def _flat_keys(state: Any, prefix: str, out: set[str]) -> None:
    if isinstance(state, Mapping):
        for key, value in state.items():
            _flat_keys(value, f"{prefix}.{key}", out)
    else:
        out.add(prefix)


def _check_model_keys(path: Path, key: str, template: Mapping[str, Any], saved_keys: set[str], strict: bool) -> None:
    """Name the parameters that the model and the checkpoint do not share, and say how to fix it."""
    expected: set[str] = set()
    _flat_keys(template, key, expected)
    saved = {name for name in saved_keys if name.startswith(f"{key}.")}
    lacking_in_checkpoint = sorted(name[len(key) + 1 :] for name in expected - saved)
    lacking_in_model = sorted(name[len(key) + 1 :] for name in saved - expected)
    if strict and (lacking_in_checkpoint or lacking_in_model):
        problems = []
        if lacking_in_model:
            problems.append(f"the checkpoint holds {lacking_in_model}, which to_load[{key!r}] lacks")
        if lacking_in_checkpoint:
            problems.append(f"to_load[{key!r}] has {lacking_in_checkpoint}, which the checkpoint lacks")
        raise ValueError(
            f"Sharded checkpoint {str(path)!r} does not fit to_load[{key!r}]: {'; '.join(problems)}. Build the model "
            "with the configuration it was saved with, or pass strict=False to load only the entries both have."
        )


def load_sharded_checkpoint(
    to_load: Mapping[str, Any], path: str | os.PathLike[str], *, strict: bool = True, weights_only: bool = True
) -> None:
    """Restore every object of ``to_load`` from the sharded checkpoint folder ``path``.

    Every rank calls it (DCP reads collectively). Models and optimizers are read through DCP, which
    re-shards: the checkpoint may have been written by any number of ranks, and the model may be
    sharded or not. The other objects read this rank's file of small objects (rank 0's when the
    checkpoint was written by fewer ranks).

    Args:
        to_load: name -> object, with the names used in ``to_save``; an optimizer needs its model in
            ``to_load`` too.
        path: a checkpoint folder written by :class:`ShardedSaver`.
        strict: the model and the checkpoint must have the same parameters and buffers; ``False``
            loads those both have and leaves the others as they are.
        weights_only: read the small objects with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError / CorruptCheckpointError: ``path`` holds no complete checkpoint.
        ValueError: a key of ``to_load`` is not in the checkpoint, or a model's parameters differ
            from the checkpoint's (the message names them).
    """
    path = Path(path)
    modules, optimizers, others = _split(to_load, "to_load")
    for key, value in others.items():
        if not callable(getattr(value, "load_state_dict", None)):
            raise TypeError(
                f"to_load[{key!r}] is a {type(value).__name__}, which has no load_state_dict() method. Pass objects "
                "that can be restored (a model, an optimizer, the engine, a scheduler ...)."
            )
    marker = verify_sharded_checkpoint(path)
    sharded_saved, objects_saved = set(marker.get("sharded", [])), set(marker.get("objects", []))
    missing = sorted(key for key in to_load if key not in (objects_saved if key in others else sharded_saved))
    if missing:
        raise ValueError(
            f"Sharded checkpoint {str(path)!r} misses keys of to_load: missing {missing}; it holds "
            f"{sorted(sharded_saved | objects_saved)}. Use the same names in to_load as in to_save."
        )
    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
    from torch.distributed.checkpoint.filesystem import FileSystemReader
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )
    from torch.distributed.checkpoint.state_dict_loader import load

    if modules or optimizers:
        template = _sharded_state(modules, optimizers, "to_load")
        saved_keys = set(FileSystemReader(str(path)).read_metadata().state_dict_metadata)
        for key in modules:
            _check_model_keys(path, key, template[key], saved_keys, strict)
        if not distributed.is_distributed():
            _hush_single_process_notice()
        load(
            template,
            checkpoint_id=str(path),
            planner=DefaultLoadPlanner(allow_partial_load=not strict),
            no_dist=not distributed.is_distributed(),
        )
        options = StateDictOptions(strict=strict)
        for key, module in modules.items():
            set_model_state_dict(module, template[key], options=options)
        for key, optimizer in optimizers.items():
            owner = _owner_of(optimizer, modules, key, "to_load")
            set_optimizer_state_dict(owner, optimizer, template[key], options=options)
    if others:
        rank = distributed.get_rank()
        objects_path = path / _objects_file(rank if rank < int(marker.get("world_size", 1)) else 0)
        saved_objects = load_checkpoint(objects_path, weights_only=weights_only)
        Checkpoint.load_objects(others, saved_objects, strict=strict, weights_only=weights_only)


def resume_from_latest_sharded(
    to_load: Mapping[str, Any], dirname: str | os.PathLike[str], filename_prefix: str = "", *, weights_only: bool = True
) -> Path | None:
    """Load the newest complete sharded checkpoint of ``dirname`` into ``to_load``; return it, or ``None``.

    Every rank calls it. Rank 0 picks the folder and tells the others, so all ranks load the same
    checkpoint. With no complete checkpoint in ``dirname`` nothing is loaded and the run starts fresh.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     resume_from_latest_sharded({"model": nn.Linear(2, 1)}, folder) is None
    True
    """

    def pick() -> str | None:
        latest = find_latest_sharded_checkpoint(dirname, filename_prefix)
        return None if latest is None else str(latest)

    chosen = distributed.decide_on_rank(pick)  # rank 0 picks; its error, if any, is raised on every rank
    if chosen is None:
        logger.info("No complete sharded checkpoint in %s: starting a new run.", dirname)
        return None
    load_sharded_checkpoint(to_load, chosen, weights_only=weights_only)
    logger.info("Resumed from sharded checkpoint %s.", chosen)
    return Path(chosen)


def dcp_to_torch_save(checkpoint_dir: str | os.PathLike[str], output_file: str | os.PathLike[str]) -> Path:
    """Convert a sharded checkpoint folder into one plain ``torch.save`` file, in a single process.

    The file holds ``{key: state_dict}`` for every object of the checkpoint, with whole (unsharded)
    tensors: models under their keys with plain parameter names, optimizers keyed by parameter name
    (as ``get_optimizer_state_dict`` gives them), and the small objects as rank 0 saved them. It loads
    into a plain model with ``model.load_state_dict(torch.load(output_file)["model"])`` or
    ``Checkpoint.load_objects({"model": model}, output_file)``. The file is written atomically.

    Raises:
        FileNotFoundError / CorruptCheckpointError: ``checkpoint_dir`` holds no complete checkpoint.
    """
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save as convert

    source = Path(checkpoint_dir)
    marker = verify_sharded_checkpoint(source)
    output = Path(output_file)
    if output.is_dir():
        raise ValueError(f"output_file {str(output)!r} is a folder. Pass the path of the file to write.")
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = output.parent / f".{output.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    try:
        convert(str(source), str(scratch))
        state: dict[str, Any] = torch.load(scratch, weights_only=True, map_location="cpu")
    finally:
        scratch.unlink(missing_ok=True)
    if marker.get("objects"):
        state.update(load_checkpoint(source / _objects_file(0)))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(output, [buffer.getbuffer()])
    return output


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
    :func:`load_sharded_checkpoint`.

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
            present = sorted(path.name for path in _checkpoint_folders(self.dirname, ""))
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
            "format": _FORMAT,
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
            save(sharded, checkpoint_id=str(temporary), no_dist=no_dist)
            finish()
            return
        if self._group is None and not no_dist:
            import torch.distributed as dist

            # background saves talk on a group of their own, so their messages never interleave with training's
            self._group = dist.new_group(backend="gloo")
        written = async_save(sharded, checkpoint_id=str(temporary), process_group=self._group, no_dist=no_dist)

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
            lambda: sorted(path.name + _EXTENSION for path in _checkpoint_folders(self.dirname, ""))
        )
