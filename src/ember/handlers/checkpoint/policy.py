"""When to save and what to keep: :class:`Checkpoint` and :class:`ModelCheckpoint`, ignite's names and rules.

The names, arguments and file names are pytorch-ignite's (``Checkpoint``, ``ModelCheckpoint``,
``filename_pattern``, ``n_saved``, ``score_function`` ...), so ignite code runs unchanged and ignite's
checkpoint files load. Exact resume needs more than the weights: put the engine itself, the data
loader (see :class:`ember.data.ResumableLoader`) and an :class:`~ember.random.RNGStates` in
``to_save`` as well.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ember import distributed
from ember.engine import Engine, EventEnum, Events
from ember.handlers.checkpoint.discovery import EXTENSION
from ember.handlers.checkpoint.objects import _check_to_save, _state_dicts, load_objects
from ember.handlers.checkpoint.options import check_options, check_pattern, check_signature
from ember.handlers.checkpoint.savers import BaseSaveHandler, DiskSaver, _check_save_on_rank

__all__ = ["Checkpoint", "CheckpointEvents", "ModelCheckpoint"]


class CheckpointEvents(EventEnum):
    """The event a :class:`Checkpoint` fires on its engine after each checkpoint it writes."""

    SAVED_CHECKPOINT = "saved_checkpoint"


class _Saved(NamedTuple):
    priority: float | int
    filename: str


def _number(value: Any) -> float | int:
    """A kept checkpoint's priority as saved: an int stays an int, as in ignite's state dict."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


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
        saver: Callable[..., Any] = self._saver_of(save_handler, save_on_rank)
        self._saver_takes_metadata = self._check_saver(saver)
        check_options(n_saved, score_name, filename_prefix, include_self, greater_or_equal)
        if score_function is None and score_name is not None:
            score_function = self.get_default_score_fn(score_name)
        if score_function is not None:
            check_signature(score_function, "score_function", "(engine)", 1)
        if global_step_transform is not None:
            check_signature(global_step_transform, "global_step_transform", "(engine, event)", 2)
        if filename_pattern is not None:
            check_pattern(filename_pattern, score_function is not None, global_step_transform is not None)
        self.to_save = to_save
        self.save_handler = saver
        self.filename_prefix = filename_prefix
        self.score_function = score_function
        self.score_name = score_name
        self.n_saved = n_saved
        self.global_step_transform = global_step_transform
        self.filename_pattern = filename_pattern
        self.include_self = include_self
        self.greater_or_equal = greater_or_equal
        self.save_on_rank = save_on_rank
        self.ext = EXTENSION[1:]
        self._saved: list[_Saved] = []
        self._warned_stale_step = False
        self._wired: weakref.WeakSet[Engine] = weakref.WeakSet()

    @staticmethod
    def _saver_of(save_handler: Any, save_on_rank: Any) -> Any:
        """The saver that ``save_handler`` stands for (a folder path becomes a :class:`DiskSaver`), checked."""
        if isinstance(save_on_rank, bool) or not isinstance(save_on_rank, int) or save_on_rank < 0:
            raise ValueError(f"save_on_rank must be a rank (an integer >= 0), got {save_on_rank!r}.")
        if isinstance(save_handler, (str, os.PathLike)):
            return DiskSaver(save_handler, save_on_rank=save_on_rank)
        if not callable(save_handler):
            raise TypeError(
                f"save_handler must be a DiskSaver, a folder path, a BaseSaveHandler or a function "
                f"save(checkpoint, filename[, metadata]), got {type(save_handler).__name__}."
            )
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
                stacklevel=3,
            )
        return save_handler

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
        map_location: Any = "cpu",
        **kwargs: Any,
    ) -> None:
        """Restore every object of ``to_load`` from ``checkpoint`` (a loaded dict or a file path).

        With a single key in ``to_load``, ``checkpoint`` may be that object's bare state dict (how a
        checkpoint of one object is saved) or a dict holding it under that key. Values of
        ``to_load`` may be dicts and lists of objects, as in ``to_save``. ``strict`` and ``kwargs``
        (e.g. ``assign=True``) go to ``torch.nn.Module.load_state_dict``; a ``DataParallel`` /
        ``DistributedDataParallel`` model loads into its inner module. ``map_location`` is where
        :func:`torch.load` puts a file's tensors (any form it takes: ``"cpu"``, a ``torch.device``, a
        dict, a function); a dict ``checkpoint`` is already in memory and loads as it is (each object
        copies the values onto its own device).

        ``strict=False`` loads the keys a model and the checkpoint's entry have in common; when they
        have none, nothing is loaded (as in ignite) and a ``UserWarning`` names the object and what
        the entry holds.

        Given a path under ``torch.distributed``, it is a collective: call it on every rank. Rank 0
        verifies its file; each rank with a byte-identical copy loads its own, and if any rank has
        none (nodes with their own disks) rank 0's checkpoint is sent to every rank. A dict is
        loaded locally.

        Raises:
            ValueError: a key of ``to_load`` is missing from the checkpoint (the message lists the
                missing and the unexpected keys and the entries the file holds), a tensor's shape
                differs (the message names every such tensor with both shapes), or an optimizer's
                entry is not an optimizer's state (e.g. names swapped) or is that of another model.
            RuntimeError: with ``strict=True``, a model's keys differ from its entry's (as in
                ignite); the message names the ``to_load`` entry, the keys the entry holds, and the
                likely cause (names swapped, another model, no entry of that name).
            TypeError: an unknown keyword argument.
            FileNotFoundError / CorruptCheckpointError: for a path with no valid checkpoint.

        >>> import torch
        >>> source, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
        >>> Checkpoint.load_objects({"model": target}, source.state_dict())  # a bare state dict
        >>> torch.equal(source.weight, target.weight)
        True
        """
        load_objects(to_load, checkpoint, strict=strict, weights_only=weights_only, map_location=map_location, **kwargs)


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
