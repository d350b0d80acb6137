"""Checkpoints that never lose a run: atomic, checksummed, optionally asynchronous saves.

A checkpoint file is a small header (a magic string, the SHA-256 of the payload and its length)
followed by the bytes of :func:`torch.save`. The header lets :func:`load_checkpoint` tell a
complete file from a truncated or corrupted one and name the file in the error. Files are written
with :func:`ember._atomic.write_atomic`, so a crash at any moment leaves every finished checkpoint
intact, and an older kept checkpoint is deleted only after the new one is durable.

Exact resume needs more than the weights: put the engine itself, the data loader (see
:class:`ember.data.ResumableLoader`) and an :class:`RNGStates` in ``to_save`` as well.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import numbers
import os
import pickle
import random
import re
import struct
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import torch

from ember import distributed
from ember._atomic import TEMP_SUFFIX, write_atomic
from ember.engine import Engine, Events
from ember.utils import apply_to_tensors

__all__ = [
    "Checkpoint",
    "CorruptCheckpointError",
    "DiskSaver",
    "ModelCheckpoint",
    "RNGStates",
    "SaveHandler",
    "find_latest_checkpoint",
    "load_checkpoint",
    "resume_from_latest",
]

logger = logging.getLogger(__name__)

_MAGIC = b"EMBERCKPT\x01"
_HEADER = struct.Struct("<32sQ")  # SHA-256 digest of the payload, payload length in bytes
_EXTENSION = ".pt"
_STEP_IN_NAME = re.compile(r"_(\d+)(?:_[^=]+=[^_]+)?\.pt$")


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated, corrupted, or not a checkpoint at all."""


# ---------------------------------------------------------------------------------------------- files


def _encode(checkpoint: Mapping[str, Any]) -> list[bytes | memoryview]:
    buffer = io.BytesIO()
    try:
        torch.save(dict(checkpoint), buffer)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise TypeError(
            f"The checkpoint's state cannot be saved by torch.save ({type(error).__name__}: {error}). State dicts "
            "must hold tensors, numbers, strings and containers of them."
        ) from error
    payload = buffer.getbuffer()  # a view, not a copy: a checkpoint can be gigabytes
    return [_MAGIC, _HEADER.pack(hashlib.sha256(payload).digest(), len(payload)), payload]


def _read_payload(path: Path) -> bytes:
    """The verified ``torch.save`` bytes of the checkpoint at ``path``."""
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint file at {str(path)!r}. Pass the path of a file written by Checkpoint or DiskSaver "
            "(find_latest_checkpoint(folder) finds the newest one in a folder)."
        )
    data = path.read_bytes()
    if len(data) < len(_MAGIC) and _MAGIC.startswith(data):
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} is truncated: it has only {len(data)} bytes. "
            "Delete it and load an older checkpoint (find_latest_checkpoint skips such files)."
        )
    if not data.startswith(_MAGIC):
        # a plain torch.save file (e.g. written by another tool): no checksum to verify
        return data
    header_end = len(_MAGIC) + _HEADER.size
    if len(data) < header_end:
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} is truncated: it has {len(data)} bytes, fewer than its header. "
            "Delete it and load an older checkpoint (find_latest_checkpoint skips such files)."
        )
    digest, length = _HEADER.unpack(data[len(_MAGIC) : header_end])
    payload = data[header_end:]
    if len(payload) != length:
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} is truncated or padded: its header announces {length} bytes of data, "
            f"the file holds {len(payload)}. Delete it and load an older checkpoint."
        )
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} is corrupted: its SHA-256 checksum does not match its contents. "
            "Delete it and load an older checkpoint."
        )
    return payload


def verify_checkpoint(path: str | os.PathLike[str]) -> None:
    """Raise :class:`CorruptCheckpointError` (or ``FileNotFoundError``) unless ``path`` is a complete checkpoint."""
    _read_payload(Path(path))


def load_checkpoint(
    path: str | os.PathLike[str], *, weights_only: bool = True, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Read and verify a checkpoint file; return the saved dict.

    Args:
        path: a file written by :class:`Checkpoint` / :class:`DiskSaver` (a plain ``torch.save``
            file loads too, without a checksum to verify).
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
    payload = _read_payload(path)
    try:
        loaded = torch.load(io.BytesIO(payload), weights_only=weights_only, map_location=map_location)
    except Exception as error:
        if weights_only and "weights_only" in str(error).lower():
            raise RuntimeError(
                f"Checkpoint {str(path)!r} holds objects that torch.load(weights_only=True) refuses to unpickle "
                f"({type(error).__name__}; the cause below names them). Save only tensors, numbers, strings and "
                "containers of them, or, for a file you trust, pass weights_only=False."
            ) from error
        raise CorruptCheckpointError(
            f"Checkpoint {str(path)!r} could not be read by torch.load ({type(error).__name__}: {error})."
        ) from error
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
    files = _checkpoint_files(Path(dirname), filename_prefix)
    files.sort(key=lambda path: (_step_of(path), path.stat().st_mtime_ns), reverse=True)
    for path in files:
        try:
            verify_checkpoint(path)
        except (CorruptCheckpointError, FileNotFoundError) as error:
            logger.warning("Skipping checkpoint %s: %s", path, error)
            continue
        return path
    return None


def resume_from_latest(
    to_load: Mapping[str, Any], dirname: str | os.PathLike[str], filename_prefix: str = "", *, weights_only: bool = True
) -> Path | None:
    """Load the newest valid checkpoint of ``dirname`` into ``to_load``; return its path, or ``None`` to start fresh.

    Call it before ``engine.run``: with the engine in ``to_load`` the run continues where the
    checkpoint was taken; when the folder holds no valid checkpoint, nothing is loaded and the run
    starts from the beginning.

    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     resume_from_latest({"model": model}, folder) is None
    True
    """
    path = find_latest_checkpoint(dirname, filename_prefix)
    if path is None:
        logger.info("No valid checkpoint in %s: starting a new run.", dirname)
        return None
    Checkpoint.load_objects(to_load, path, weights_only=weights_only)
    logger.info("Resumed from checkpoint %s.", path)
    return path


# ---------------------------------------------------------------------------------------------- savers


class SaveHandler(Protocol):
    """What :class:`Checkpoint` needs from a saver: write a checkpoint under a name, and remove one."""

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``checkpoint`` under ``filename``."""

    def remove(self, filename: str) -> None:
        """Delete the checkpoint saved under ``filename``."""


class DiskSaver:
    """Writes checkpoints to files in a folder, atomically and durably, optionally in the background.

    Args:
        dirname: the folder; it is created if missing (``create_dir=True``) and must be writable:
            both are checked now, not at the first save.
        create_dir: create ``dirname`` when it does not exist.
        require_empty: refuse a folder that already holds ``.pt`` files, so two runs do not mix
            their checkpoints. Pass ``False`` to continue a run in its own folder.
        asynchronous: copy the state to CPU memory on the calling thread and write it from a
            background thread; at most one write is in flight (a new save waits for the previous
            one). A failed background write is raised by the next save or by :meth:`wait`.

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
        *,
        create_dir: bool = True,
        require_empty: bool = True,
        asynchronous: bool = False,
    ) -> None:
        if not isinstance(dirname, (str, os.PathLike)):
            raise TypeError(f"dirname must be a path (str or os.PathLike), got {type(dirname).__name__}.")
        self.dirname = Path(dirname)
        self.asynchronous = asynchronous
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
        if require_empty:
            present = sorted(path.name for path in _checkpoint_files(self.dirname, ""))
            if present:
                raise ValueError(
                    f"Checkpoint folder {str(self.dirname)!r} already holds checkpoints {present[:5]}. Use a new "
                    "folder, or pass require_empty=False to continue the run that wrote them."
                )
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []  # one write, then the deletions it allows
        self._spare: list[torch.Tensor] = []
        self._lock = threading.Lock()

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

    def __call__(self, checkpoint: Mapping[str, Any], filename: str, metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``checkpoint`` to ``dirname/filename`` (returns once it is durable, unless asynchronous)."""
        path = self.dirname / filename
        if not self.asynchronous:
            write_atomic(path, _encode(checkpoint))
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

        snapshot = apply_to_tensors(checkpoint, copy)
        self._spare = used
        self._submit(lambda: write_atomic(path, _encode(snapshot)), f"writing checkpoint {str(path)!r}")

    def remove(self, filename: str) -> None:
        """Delete ``dirname/filename``; when asynchronous, queued behind the write in flight, and skipped if it fails.

        So an older checkpoint is never deleted before the newer one is durable.
        """
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


# ---------------------------------------------------------------------------------------------- RNG


class RNGStates:
    """The random number generators' states (Python, NumPy, torch CPU and CUDA) as a checkpointable object.

    Put one in ``to_save``: its state dict holds only tensors, numbers and lists, so it loads with
    ``torch.load(weights_only=True)``. Loading it restores every generator.

    >>> import random
    >>> rng = RNGStates()
    >>> saved = rng.state_dict()
    >>> first = random.random()
    >>> rng.load_state_dict(saved)
    >>> random.random() == first
    True
    """

    def state_dict(self) -> dict[str, Any]:
        """Snapshot of every generator's state."""
        version, mt_state, gauss_next = random.getstate()
        saved: dict[str, Any] = {
            "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss_next},
            "torch": torch.get_rng_state(),
            "cuda": [state for state in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        }
        try:
            import numpy
        except ImportError:  # NumPy is optional: without it there is no NumPy generator to save
            return saved
        kind, keys, position, has_gauss, cached = numpy.random.get_state(legacy=True)  # a tuple when legacy=True
        saved["numpy"] = {
            "kind": str(kind),
            "keys": torch.from_numpy(numpy.asarray(keys, dtype=numpy.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the generators from a :meth:`state_dict` snapshot."""
        missing = [key for key in ("python", "torch", "cuda") if key not in state_dict]
        if missing:
            raise ValueError(
                f"RNGStates.load_state_dict misses the keys {missing} (it got {sorted(state_dict)}). "
                "Pass a dict saved by RNGStates.state_dict()."
            )
        python = state_dict["python"]
        random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        if "numpy" in state_dict:
            import numpy

            saved = state_dict["numpy"]
            numpy.random.set_state(
                (
                    saved["kind"],
                    saved["keys"].numpy().astype("uint32"),
                    saved["position"],
                    saved["has_gauss"],
                    saved["cached_gaussian"],
                )
            )


# ---------------------------------------------------------------------------------------------- Checkpoint


def _check_to_save(to_save: Any, needs_load: bool = False) -> None:
    name = "to_load" if needs_load else "to_save"
    if not isinstance(to_save, Mapping):
        raise TypeError(
            f"{name} must be a dict of name -> object with state_dict(), got {type(to_save).__name__}. "
            f"Pass e.g. {{'model': model, 'optimizer': optimizer, 'trainer': trainer}}."
        )
    method = "load_state_dict" if needs_load else "state_dict"
    for key, value in to_save.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be strings, got {key!r} ({type(key).__name__}).")
        if not callable(getattr(value, method, None)):
            raise TypeError(
                f"{name}[{key!r}] is a {type(value).__name__}, which has no {method}() method. Pass objects with "
                "state_dict() and load_state_dict() (a model, an optimizer, the engine, a metric ...)."
            )


def _tensor_shapes(value: Any, path: str, out: dict[str, tuple[int, ...]]) -> None:
    if isinstance(value, torch.Tensor):
        out[path] = tuple(value.shape)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _tensor_shapes(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _tensor_shapes(item, f"{path}[{index}]", out)


class _Saved:
    __slots__ = ("filename", "priority", "step")

    def __init__(self, priority: float, step: int, filename: str) -> None:
        self.priority, self.step, self.filename = priority, step, filename

    def key(self) -> tuple[float, int]:
        return (self.priority, self.step)


class Checkpoint:
    """Saves ``to_save`` when its event fires, keeping the last (or best) ``n_saved`` checkpoints.

    Args:
        to_save: name -> object with ``state_dict()``: model, optimizer, scheduler, GradScaler, the
            engine, metrics, a :class:`~ember.data.ResumableLoader`, an :class:`RNGStates` ...
        save_handler: where checkpoints go: a :class:`DiskSaver`, a folder path (a ``DiskSaver``
            with default options is made for it), or any object with ``__call__(checkpoint,
            filename, metadata)`` and ``remove(filename)``.
        filename_prefix: put in front of every file name.
        score_function: ``score_function(engine) -> number`` (or one-element tensor); given, the ``n_saved`` best scores
            (highest) are kept instead of the latest ones.
        score_name: the score's name in file names.
        n_saved: how many checkpoints to keep (``None``: all).
        global_step_transform: ``fn(engine, event) -> int``, the step in file names; by default the
            engine's iteration, so every save of a run has its own name.
        include_self: also save this handler's own list of kept files under ``"checkpointer"``.

    File names are ``{prefix}_{name}_{step}[_{score_name}={score}].pt`` where ``name`` is the
    single key of ``to_save``, or ``"checkpoint"``. Under ``torch.distributed`` every rank calls
    ``state_dict()`` on every object at every save (so collectives inside it are reached by all
    ranks), and rank 0 alone decides what to keep and writes.

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

    def __init__(
        self,
        to_save: Mapping[str, Any],
        save_handler: SaveHandler | str | os.PathLike[str],
        filename_prefix: str = "",
        score_function: Callable[[Engine], float] | None = None,
        score_name: str | None = None,
        n_saved: int | None = 1,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        *,
        include_self: bool = False,
    ) -> None:
        _check_to_save(to_save)
        if not to_save and not isinstance(self, ModelCheckpoint):  # ModelCheckpoint gets to_save when attached
            raise ValueError("to_save is empty: pass at least one object to save, e.g. {'model': model}.")
        if isinstance(save_handler, (str, os.PathLike)):
            save_handler = DiskSaver(save_handler)
        if not callable(save_handler) or not callable(getattr(save_handler, "remove", None)):
            raise TypeError(
                f"save_handler must be a DiskSaver, a folder path, or an object with __call__(checkpoint, filename, "
                f"metadata) and remove(filename), got {type(save_handler).__name__}."
            )
        if n_saved is not None and (isinstance(n_saved, bool) or not isinstance(n_saved, int)):
            raise TypeError(f"n_saved must be a positive integer or None, got {n_saved!r} ({type(n_saved).__name__}).")
        if n_saved is not None and n_saved < 1:
            raise ValueError(f"n_saved must be >= 1 (or None to keep every checkpoint), got n_saved={n_saved}.")
        if score_function is not None and not callable(score_function):
            raise TypeError(f"score_function must be callable (engine) -> number, got {type(score_function).__name__}.")
        if score_name is not None and score_function is None:
            raise ValueError(
                f"score_name={score_name!r} was given without a score_function. Pass score_function as well."
            )
        if not isinstance(filename_prefix, str) or any(sep in filename_prefix for sep in "/\\"):
            raise ValueError(f"filename_prefix must be a string without path separators, got {filename_prefix!r}.")
        self.to_save = to_save
        self.save_handler: SaveHandler = save_handler
        self.filename_prefix = filename_prefix
        self.score_function = score_function
        self.score_name = score_name
        self.n_saved = n_saved
        self.global_step_transform = global_step_transform
        self.include_self = include_self
        self._saved: list[_Saved] = []
        self._adopted = False
        self._last_written: str | None = None
        self._waiting_on: weakref.WeakSet[Engine] = weakref.WeakSet()

    # -- naming

    def _name(self) -> str:
        return next(iter(self.to_save)) if len(self.to_save) == 1 else "checkpoint"

    def _stem(self) -> str:
        return f"{self.filename_prefix}_{self._name()}" if self.filename_prefix else self._name()

    def _filename(self, step: int, score: float | None) -> str:
        name = f"{self._stem()}_{step}"
        if score is not None:
            name += f"_{self.score_name or 'score'}={score:.4f}"
        return name + _EXTENSION

    def _adopt_existing(self) -> None:
        """Take over the files an earlier process of this run left, so ``n_saved`` still holds after a resume."""
        self._adopted = True
        list_files = getattr(self.save_handler, "list_files", None)
        if list_files is None:
            return
        pattern = re.compile(
            rf"^{re.escape(self._stem())}_(\d+)(?:_{re.escape(self.score_name or 'score')}=([-+0-9.eEnaif]+))?\.pt$"
        )
        known = {saved.filename for saved in self._saved}
        for filename in list_files():
            match = pattern.match(filename)
            if match is None or filename in known:
                continue
            step = int(match.group(1))
            if self.score_function is not None and match.group(2) is None:
                continue
            priority = float(match.group(2)) if self.score_function is not None else float(step)
            self._saved.append(_Saved(priority, step, filename))
        self._saved.sort(key=_Saved.key)

    # -- saving

    @property
    def last_checkpoint(self) -> str | None:
        """File name of the most recent checkpoint kept."""
        return max(self._saved, key=lambda saved: saved.step).filename if self._saved else None

    def attach(self, engine: Engine, event: Any = Events.EPOCH_COMPLETED) -> None:
        """Save on ``event`` (any event, filtered or not)."""
        engine.add_event_handler(event, self, event)

    def __call__(self, engine: Engine, event: Any = None) -> None:
        """Save a checkpoint now (when the score deserves it), then drop the ones no longer kept."""
        if not self._adopted:
            self._adopt_existing()
        self._wait_at_end_of(engine)
        step = self.global_step_transform(engine, event) if self.global_step_transform else engine.state.iteration
        score: float | None = None
        if self.score_function is not None:
            raw = self.score_function(engine)
            if isinstance(raw, torch.Tensor) and raw.numel() == 1:
                raw = raw.item()  # a tensor metric, accepted as EarlyStopping and LRScheduler accept it
            if isinstance(raw, bool) or not isinstance(raw, numbers.Real) or math.isnan(float(raw)):
                raise TypeError(
                    f"score_function must return a real number, got {raw!r} ({type(raw).__name__}). Return e.g. "
                    "engine.state.metrics['accuracy'] (a float), negated for a loss."
                )
            score = float(raw)
        priority = score if score is not None else float(step)
        filename = self._filename(step, score)
        # Every rank builds the state dicts before anything is decided, so that a collective inside a
        # state_dict() is reached by all ranks, whatever each rank knows about the files kept.
        checkpoint = {key: value.state_dict() for key, value in self.to_save.items()}
        if self.include_self:
            checkpoint["checkpointer"] = self.state_dict()
        if distributed.get_rank() != 0:
            return
        if filename == self._last_written:
            return  # this very state is saved already (e.g. a periodic save and COMPLETED at one iteration)
        # A kept file of that name came from an earlier process (a resumed run reached its step again): it
        # may be the damaged file the resume skipped, or another trajectory's, so it is written anew.
        others = [saved for saved in self._saved if saved.filename != filename]
        full = self.n_saved is not None and len(others) >= self.n_saved
        if full and others and (priority, step) <= others[0].key():
            return
        self.save_handler(
            checkpoint, filename, {"basename": self._stem(), "score_name": self.score_name, "priority": priority}
        )
        self._last_written = filename
        self._saved = others
        self._saved.append(_Saved(priority, step, filename))
        self._saved.sort(key=_Saved.key)
        # only now, with the new file durable (or queued before the deletions), drop the surplus
        while self.n_saved is not None and len(self._saved) > self.n_saved:
            self.save_handler.remove(self._saved.pop(0).filename)

    def _wait_at_end_of(self, engine: Engine) -> None:
        wait = getattr(self.save_handler, "wait", None)
        if wait is None or engine in self._waiting_on:
            return
        self._waiting_on.add(engine)
        for event in (Events.COMPLETED, Events.INTERRUPT):
            engine.add_event_handler(event, self.wait)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._wait_on_failure)

    def wait(self) -> None:
        """Block until every checkpoint handed to the saver is durable (a no-op for synchronous savers)."""
        wait = getattr(self.save_handler, "wait", None)
        if wait is not None:
            wait()

    def _wait_on_failure(self, engine: Engine, exception: BaseException) -> None:
        self.wait()

    # -- state

    def state_dict(self) -> dict[str, Any]:
        """The kept files, as ``{"saved": [[priority, step, filename], ...]}``."""
        return {"saved": [[saved.priority, saved.step, saved.filename] for saved in self._saved]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the list of kept files saved by :meth:`state_dict`."""
        saved = state_dict.get("saved")
        if not isinstance(saved, list):
            raise ValueError(f"Checkpoint.load_state_dict needs {{'saved': [...]}}, got keys {sorted(state_dict)}.")
        self._saved = sorted((_Saved(float(p), int(s), str(f)) for p, s, f in saved), key=_Saved.key)

    # -- loading

    @staticmethod
    def load_objects(
        to_load: Mapping[str, Any],
        checkpoint: Mapping[str, Any] | str | os.PathLike[str],
        *,
        strict: bool = True,
        weights_only: bool = True,
    ) -> None:
        """Restore every object of ``to_load`` from ``checkpoint`` (a loaded dict or a file path).

        Raises:
            ValueError: a key of ``to_load`` is missing from the checkpoint (the message lists the
                missing and the unexpected keys), or a tensor's shape differs (the message names the
                tensor and both shapes).
            FileNotFoundError / CorruptCheckpointError: for a path with no valid checkpoint.

        >>> import torch
        >>> source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
        >>> Checkpoint.load_objects({"model": target}, {"model": source.state_dict()})
        >>> torch.equal(source.weight, target.weight)
        True
        """
        _check_to_save(to_load, needs_load=True)
        if isinstance(checkpoint, (str, os.PathLike)):
            checkpoint = load_checkpoint(checkpoint, weights_only=weights_only)
        if not isinstance(checkpoint, Mapping):
            raise TypeError(f"checkpoint must be a dict or a file path, got {type(checkpoint).__name__}.")
        missing = sorted(set(to_load) - set(checkpoint))
        if missing:
            unexpected = sorted(set(checkpoint) - set(to_load))
            raise ValueError(
                f"The checkpoint misses keys of to_load: missing {missing}, unexpected {unexpected}. "
                "Use the same names in to_load as in to_save."
            )
        for key, target in to_load.items():
            saved = checkpoint[key]
            if hasattr(target, "state_dict"):
                current: dict[str, tuple[int, ...]] = {}
                incoming: dict[str, tuple[int, ...]] = {}
                _tensor_shapes(target.state_dict(), "", current)
                _tensor_shapes(saved, "", incoming)
                for path, shape in incoming.items():
                    if path in current and current[path] != shape:
                        raise ValueError(
                            f"Tensor {key}.{path} has shape {list(shape)} in the checkpoint but {list(current[path])} "
                            f"in {key}. Load a checkpoint of the same model configuration."
                        )
            if isinstance(target, torch.nn.Module):
                target.load_state_dict(saved, strict=strict)
            else:
                target.load_state_dict(saved)


class ModelCheckpoint(Checkpoint):
    """A :class:`Checkpoint` writing to a folder through a :class:`DiskSaver`; ``to_save`` comes at attach time.

    Usage: ``handler.attach(engine, Events.EPOCH_COMPLETED, {"model": model})``, or
    ``engine.add_event_handler(Events.EPOCH_COMPLETED, handler, {"model": model})``. Give it to a
    :class:`~ember.handlers.PreemptionHandler` only after ``attach``, which tells it the objects at once.

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

    def __init__(
        self,
        dirname: str | os.PathLike[str],
        filename_prefix: str = "",
        score_function: Callable[[Engine], float] | None = None,
        score_name: str | None = None,
        n_saved: int | None = 1,
        *,
        global_step_transform: Callable[[Engine, Any], int] | None = None,
        include_self: bool = False,
        create_dir: bool = True,
        require_empty: bool = True,
        asynchronous: bool = False,
    ) -> None:
        saver = DiskSaver(dirname, create_dir=create_dir, require_empty=require_empty, asynchronous=asynchronous)
        super().__init__(
            {},
            saver,
            filename_prefix,
            score_function,
            score_name,
            n_saved,
            global_step_transform,
            include_self=include_self,
        )

    def attach(  # type: ignore[override]
        self, engine: Engine, event: Any = Events.EPOCH_COMPLETED, to_save: Mapping[str, Any] | None = None
    ) -> None:
        """Save ``to_save`` on ``event``; a later call without objects (e.g. by a PreemptionHandler) saves them too."""
        if to_save is None:
            raise TypeError(
                "ModelCheckpoint.attach needs the objects to save: call attach(engine, event, {'model': model})."
            )
        _check_to_save(to_save)
        if not to_save:
            raise ValueError("to_save is empty: pass at least one object to save, e.g. {'model': model}.")
        self.to_save = to_save
        engine.add_event_handler(event, self, to_save, event)

    def __call__(self, engine: Engine, to_save: Mapping[str, Any] | None = None, event: Any = None) -> None:  # type: ignore[override]
        """Save ``to_save`` (given through ``attach`` or ``add_event_handler``'s extra argument)."""
        if to_save is None:
            if not self.to_save:
                raise TypeError(
                    "ModelCheckpoint needs the objects to save: attach it with handler.attach(engine, event, "
                    "{'model': model}) or engine.add_event_handler(event, handler, {'model': model})."
                )
            to_save = self.to_save
        _check_to_save(to_save)
        if not to_save:
            raise ValueError("to_save is empty: pass at least one object to save, e.g. {'model': model}.")
        self.to_save = to_save
        super().__call__(engine, event)
