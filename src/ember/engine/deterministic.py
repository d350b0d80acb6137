"""pytorch-ignite's deterministic names: :class:`DeterministicEngine`, :class:`ReproducibleBatchSampler`,
:func:`keep_random_state`, :func:`update_dataloader`.

A :class:`DeterministicEngine` makes a run's data order and random numbers a function of one seed, so
that a run resumed from a checkpoint, even in the middle of an epoch, continues exactly as the
uninterrupted run would have. It follows pytorch-ignite's seeding rule, so that the same seed gives
the same batches and random numbers as ignite's ``DeterministicEngine``:

- at ``STARTED`` it draws ``state.seed`` from torch's generator, an integer below 10**9 (so
  ``manual_seed(s)`` before ``run`` fixes everything);
- every pass over the data starts by seeding Python's, NumPy's and torch's generators with
  ``state.seed + k``: ``k`` is the pass's first iteration divided by the data's length (the pass's
  index when passes line up with epochs; after ``terminate_epoch()``, divided by the iterations of
  the epoch it cut short), or the pass's first iteration itself for data without a length; a
  ``DataLoader``'s batch sampler is replaced by a :class:`ReproducibleBatchSampler`, which draws the
  pass's order at its first batch, as ignite's does;
- :meth:`DeterministicEngine.state_dict` also saves the seed, the generators' states, the passes'
  seed offsets (and the states of a ``DataLoader``'s own generators), and a run resumed in the
  middle of a pass restores them before its first batch.

It uses the engine's own resume path (data with an ``iter_from(position)`` method, as
:class:`ember.data.ResumableLoader` has) and the random state of :class:`ember.random.RNGStates`,
not a second mechanism. Where ignite's own resume does not repeat the uninterrupted run (a resume in
the middle of a shuffled ``DataLoader``'s pass draws another order in ignite; a list resumed at an
epoch boundary reseeds as if it were the first pass), ember repeats the uninterrupted run.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, IterableDataset

from ember.engine.engine import Engine
from ember.engine.events import Events
from ember.engine.passes import iterate_from
from ember.engine.state import State
from ember.random import RNGStates, keep_random_state, manual_seed, restore_rng_states

__all__ = ["DeterministicEngine", "ReproducibleBatchSampler", "keep_random_state", "update_dataloader"]

# DataLoader arguments that update_dataloader does not carry over: the batch sampler replaces them.
_REPLACED_BY_BATCH_SAMPLER = {"self", "batch_size", "shuffle", "sampler", "batch_sampler", "drop_last"}


def update_dataloader(dataloader: DataLoader[Any], new_batch_sampler: Iterable[list[int]]) -> DataLoader[Any]:
    """A new DataLoader like ``dataloader`` (same dataset, workers, collate function, ...) with another batch sampler.

    The result has the type of ``dataloader`` (a subclass stays one).

    Raises:
        TypeError: ``dataloader`` is not a ``torch.utils.data.DataLoader``.

    >>> from torch.utils.data import BatchSampler, SequentialSampler
    >>> loader = DataLoader(list(range(6)), batch_size=4)
    >>> reversed_pairs = BatchSampler(list(reversed(range(6))), batch_size=2, drop_last=False)
    >>> [batch.tolist() for batch in update_dataloader(loader, reversed_pairs)]
    [[5, 4], [3, 2], [1, 0]]
    """
    if not isinstance(dataloader, DataLoader):
        raise TypeError(f"dataloader must be a torch.utils.data.DataLoader, got {type(dataloader).__name__}.")
    parameters = inspect.signature(DataLoader.__init__).parameters
    options = {
        name: getattr(dataloader, name)
        for name in parameters
        if name not in _REPLACED_BY_BATCH_SAMPLER and hasattr(dataloader, name)
    }
    return type(dataloader)(batch_sampler=new_batch_sampler, **options)


class ReproducibleBatchSampler(BatchSampler):
    """A batch sampler that draws a whole pass of batches from ``batch_sampler`` at once, and can start it anywhere.

    A pass draws its batches when its first batch is asked for (as pytorch-ignite's does: a
    ``DataLoader`` first draws its workers' base seed, then the order): :meth:`setup_batch_indices`
    iterates ``batch_sampler`` to the end (so a random sampler draws the pass's whole order right
    then, from the random state of that moment) and drops the first ``start_iteration`` batches. The
    batches skipped are never loaded.

    Args:
        batch_sampler: the ``torch.utils.data.BatchSampler`` to wrap, e.g. ``dataloader.batch_sampler``.
        start_iteration: the batch of the next pass to start at; it applies to one pass only.

    >>> from torch.utils.data import RandomSampler
    >>> sampler = ReproducibleBatchSampler(BatchSampler(RandomSampler(range(6)), batch_size=2, drop_last=False))
    >>> _ = torch.manual_seed(0); full = list(sampler)
    >>> sampler.start_iteration = 2
    >>> _ = torch.manual_seed(0); list(sampler) == full[2:]
    True
    """

    def __init__(self, batch_sampler: BatchSampler, start_iteration: int | None = None) -> None:
        if not isinstance(batch_sampler, BatchSampler):
            raise TypeError(
                f"batch_sampler must be a torch.utils.data.BatchSampler, got {type(batch_sampler).__name__}. "
                "Pass dataloader.batch_sampler of a DataLoader over a map-style dataset."
            )
        _check_start(start_iteration)
        # BatchSampler.__init__ is not called: the wrapped sampler holds the batch size and drop_last.
        self.batch_sampler = batch_sampler
        self.sampler = batch_sampler.sampler
        self.batch_size = batch_sampler.batch_size
        self.drop_last = batch_sampler.drop_last
        self.start_iteration = start_iteration
        self.batch_indices: list[list[int]] = []
        self._drawn_ahead = False  # set by _draw_ahead: the next pass uses the batches already drawn
        self._passes_drawn = 0

    def setup_batch_indices(self) -> None:
        """Draw the next pass's batches from the wrapped sampler, from ``start_iteration`` on (then reset it)."""
        start = _check_start(self.start_iteration)
        self.batch_indices = list(self.batch_sampler)[start or 0 :]
        self.start_iteration = None
        self._passes_drawn += 1

    def _draw_ahead(self) -> None:
        """Draw the next pass now (a resumed pass: before the saved random state is restored)."""
        self.setup_batch_indices()
        self._drawn_ahead = True

    def __iter__(self) -> Iterator[list[int]]:
        if self._drawn_ahead:
            self._drawn_ahead = False
        else:
            self.setup_batch_indices()
        yield from self.batch_indices

    def __len__(self) -> int:
        return len(self.batch_sampler)


def _check_start(start_iteration: Any) -> int | None:
    if start_iteration is None:
        return None
    if isinstance(start_iteration, bool) or not isinstance(start_iteration, int) or start_iteration < 0:
        raise ValueError(
            f"start_iteration must be None or a non-negative integer (a batch index), got {start_iteration!r}."
        )
    return start_iteration


class DeterministicEngine(Engine):
    """An :class:`~ember.engine.Engine` whose data order and random numbers are a function of one seed.

    Any run, and a run resumed from :meth:`state_dict` at any iteration (also in the middle of an
    epoch), draws the same batches in the same order and the same random numbers (dropout, random
    augmentation in the main process, ``torch.rand`` in the process function) as the uninterrupted run.
    The same seed gives the same batches and random numbers as pytorch-ignite's ``DeterministicEngine``.

    How (see the module's documentation): ``state.seed`` is drawn from torch's generator at
    ``STARTED`` (a run resumed with :meth:`load_state_dict` keeps the seed it saved); each pass over
    the data seeds Python's, NumPy's and torch's generators with ``state.seed + k``, ``k`` being the
    pass's first iteration divided by the data's length; a ``DataLoader`` over a map-style dataset
    gets a :class:`ReproducibleBatchSampler` (``engine.state.dataloader.dataloader`` is that new
    loader); :meth:`state_dict` adds ``seed``, ``rng_states`` and ``seed_offsets``. On CUDA, a run also turns on
    ``torch.use_deterministic_algorithms(True, warn_only=True)`` and turns off cuDNN's benchmark mode.

    Like ignite, each call of :meth:`run` that fires ``STARTED`` draws a new seed, also one that
    continues a finished or terminated run on the same engine; only a state loaded with
    :meth:`load_state_dict` keeps its seed.

    What stays your part: a ``DataLoader`` with workers gives each worker its own generator, so random
    augmentation in the workers repeats exactly only if it is seeded from the sample index (see
    :class:`ember.data.ResumableLoader`); data that a handler assigns to ``state.dataloader`` is
    used as it is (:meth:`set_data` makes its data reproducible).

    >>> from torch import nn
    >>> from torch.utils.data import DataLoader
    >>> def step(engine, batch):
    ...     return (batch + torch.rand(1)).tolist()
    >>> loader = DataLoader(list(range(8)), batch_size=2, shuffle=True)
    >>> def outputs(engine, max_epochs):
    ...     seen = []
    ...     engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.output))
    ...     engine.run(loader, max_epochs=max_epochs)
    ...     return seen
    >>> manual_seed(0); full = outputs(DeterministicEngine(step), max_epochs=2)
    >>> saved = []
    >>> manual_seed(0); first = DeterministicEngine(step)
    >>> _ = first.add_event_handler(Events.ITERATION_COMPLETED(once=5), lambda e: saved.append(e.state_dict()))
    >>> _ = outputs(first, max_epochs=2)
    >>> resumed = DeterministicEngine(step); resumed.load_state_dict(saved[0])
    >>> outputs(resumed, max_epochs=2) == full[5:]
    True
    """

    def __init__(self, process_function: Callable[[Engine, Any], Any]) -> None:
        super().__init__(process_function)
        state: Any = self.state
        state.seed = None
        self._source: Iterable[Any] | None = None
        self._passes: _SeededPasses | None = None
        self._seed_loaded = False
        self._loaded_rng_states: Any = None
        self._loaded_generator_states: Any = None
        self._loaded_seed_offsets: Any = None
        # Plain functions, not bound methods: the engine must not hold itself in a reference cycle.
        self.add_event_handler(Events.STARTED, _start_run)
        self.add_event_handler(Events.TERMINATE_SINGLE_EPOCH, _after_terminate_epoch)

    def run(self, data: Iterable[Any] | None = None, *args: Any, **kwargs: Any) -> State:
        """Run as :meth:`Engine.run <ember.engine.Engine.run>` does, over ``data`` made reproducible.

        Raises:
            ValueError: ``data`` is ``None`` for an engine that has no data yet (a deterministic run
                draws its batches from data it controls).
        """
        if data is None and self._passes is None:
            raise ValueError(
                "DeterministicEngine needs data to make reproducible: data=None is not supported. Pass the data "
                "(a DataLoader, a list of batches, ...), or use Engine for a process function that makes its own "
                "batches."
            )
        return super().run(self._seeded(data) if data is not None else None, *args, **kwargs)

    def set_data(self, data: Iterable[Any]) -> None:
        """Take the next batches from ``data``, as :meth:`Engine.set_data <ember.engine.Engine.set_data>`
        does, made reproducible like the data given to :meth:`run`."""
        super().set_data(self._seeded(data) if isinstance(data, Iterable) else data)

    def _seeded(self, data: Iterable[Any]) -> Iterable[Any]:
        """``data`` wrapped so that each pass starts from its seed; the same wrapper for the same data."""
        if isinstance(data, _SeededPasses):
            return data
        if data is not self._source or self._passes is None:
            self._source, self._passes = data, _SeededPasses(self, data)
        return self._passes

    def state_dict(self) -> dict[str, Any]:
        """:meth:`Engine.state_dict <ember.engine.Engine.state_dict>` plus ``seed`` and ``rng_states``.

        ``rng_states`` is the state of Python's, NumPy's and torch's generators at the moment of
        saving (in :class:`ember.random.RNGStates`'s format, loadable with ``weights_only=True``).
        ``seed_offsets`` holds what the current pass (and a next one already set up by
        ``terminate_epoch()``) adds to the seed. A ``DataLoader`` with a generator of its own
        (``DataLoader(..., generator=g)``) adds ``loader_generator_states``: that generator's state
        now and at the start of the current pass.
        """
        saved = super().state_dict()
        saved["seed"] = getattr(self.state, "seed", None)
        saved["rng_states"] = RNGStates().state_dict()
        if self._passes is not None:
            saved["seed_offsets"] = self._passes._seed_offsets()
            generator_states = self._passes._generator_states()
            if generator_states is not None:
                saved["loader_generator_states"] = generator_states
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`; ``seed`` and ``rng_states`` are optional.

        Without ``seed`` (e.g. a plain engine's dict, or ignite's) a new seed is drawn when the run
        starts, as pytorch-ignite does; without ``rng_states`` a run resumed mid-pass restarts the
        random state from the pass's seed. ``rng_states`` saved by pytorch-ignite's
        DeterministicEngine (a list) is accepted too.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict expects a mapping, got {type(state_dict).__name__}.")
        own_keys = ("seed", "rng_states", "loader_generator_states", "seed_offsets")
        rest = {key: value for key, value in state_dict.items() if key not in own_keys}
        seed = state_dict.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"state_dict['seed'] must be an integer or None, got {seed!r}.")
        generator_states = state_dict.get("loader_generator_states")
        if generator_states is not None and not (
            isinstance(generator_states, Mapping)
            and all(isinstance(generator_states.get(key), (list, tuple)) for key in ("now", "pass_start"))
        ):
            raise TypeError(
                "state_dict['loader_generator_states'] must be the mapping with lists 'now' and 'pass_start' that "
                f"DeterministicEngine.state_dict() saves, got {type(generator_states).__name__}."
            )
        seed_offsets = state_dict.get("seed_offsets")
        if seed_offsets is not None and not (
            isinstance(seed_offsets, Mapping) and {"pass", "next"} <= set(seed_offsets)
        ):
            raise TypeError(
                "state_dict['seed_offsets'] must be the mapping with keys 'pass' and 'next' that "
                f"DeterministicEngine.state_dict() saves, got {seed_offsets!r}."
            )
        super().load_state_dict(rest)
        state: Any = self.state
        state.seed = seed
        self._seed_loaded = seed is not None
        self._loaded_rng_states = state_dict.get("rng_states")
        self._loaded_generator_states = generator_states
        self._loaded_seed_offsets = seed_offsets

    def _ignite_resume_position(self, iteration: int) -> int | None:
        """After pytorch-ignite's dict, the pass resumes at ``iteration % len(data)`` (ignite's DeterministicEngine)."""
        return None  # the engine derives it from the data's length when the pass opens

    def _restore_loaded_rng_states(self) -> None:
        saved, self._loaded_rng_states = self._loaded_rng_states, None
        if saved is None:
            return
        restore_rng_states(saved)  # ember's dict, or pytorch-ignite's list

    def _batch_refetched(self) -> None:
        self._restore_loaded_rng_states()  # as they were when the state was saved, after that batch's fetch

    def _forget_loaded_rng_states(self) -> None:
        self._loaded_rng_states = None


def _after_terminate_epoch(engine: DeterministicEngine, iter_counter: int = 0) -> None:
    # ignite seeds the pass that follows terminate_epoch() with the iteration divided by the number of
    # iterations of the epoch cut short (not by the data's length): so does the next pass here.
    if engine._passes is not None and iter_counter > 0:
        iteration = engine.state.iteration
        engine._passes._next_offset = (iteration, iteration // iter_counter)


def _start_run(engine: DeterministicEngine) -> None:
    state: Any = engine.state
    # Drawn at every STARTED, as ignite does, so that the random numbers after it are ignite's too.
    drawn = int(torch.randint(0, 10**9, (1,)).item())
    if not (engine._seed_loaded and state.seed is not None):
        state.seed = drawn
    engine._seed_loaded = False  # the loaded seed serves the run that resumes; a later run draws anew
    if torch.cuda.is_available():
        # Nondeterministic CUDA kernels would make the numbers differ however well the generators are seeded.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


class _SeededPasses:
    """The data of a :class:`DeterministicEngine`: every pass starts from the seed ``state.seed + k``.

    It is what the engine iterates (``engine.state.dataloader``); other attributes are those of the
    data it wraps (``.dataloader``: a DataLoader whose batch sampler is a ReproducibleBatchSampler).
    """

    def __init__(self, engine: DeterministicEngine, data: Iterable[Any]) -> None:
        self._engine = weakref.ref(engine)  # the engine holds this object as its data
        self.dataloader: Iterable[Any] = data
        self._batch_sampler: ReproducibleBatchSampler | None = None
        self._pass_start_generator_states: list[torch.Tensor] = []
        self._offset: int | None = None  # the seed offset of the current pass
        self._next_offset: tuple[int, int] | None = None  # (first iteration, offset) of the next pass, if set
        self._pass_start: int | None = None  # the iteration the current pass started after
        if (
            isinstance(data, DataLoader)
            and not isinstance(data.dataset, IterableDataset)
            and isinstance(data.batch_sampler, BatchSampler)
        ):
            batch_sampler = data.batch_sampler
            if not isinstance(batch_sampler, ReproducibleBatchSampler):
                batch_sampler = ReproducibleBatchSampler(batch_sampler)
                self.dataloader = update_dataloader(data, batch_sampler)
            self._batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.dataloader)  # type: ignore[arg-type]  # a TypeError for data without a length

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("dataloader")  # not self.dataloader: that would recurse before __init__ ran
        if name.startswith("_") or data is None:
            raise AttributeError(name)
        return getattr(data, name)

    def __iter__(self) -> Iterator[Any]:
        return self._start(0)

    def iter_from(self, position: int) -> Iterator[Any]:
        """Start the current pass at batch ``position``, with the random state it had there."""
        return self._start(position)

    def _generators(self) -> list[torch.Generator]:
        """The DataLoader's own generators (``DataLoader(generator=g)``, a sampler's), each once."""
        data = self.dataloader
        if not isinstance(data, DataLoader):
            return []
        sampler = data.batch_sampler.sampler if isinstance(data.batch_sampler, BatchSampler) else data.sampler
        candidates = (data.generator, getattr(data.sampler, "generator", None), getattr(sampler, "generator", None))
        found = {id(g): g for g in candidates if isinstance(g, torch.Generator)}
        return list(found.values())

    def _generator_states(self) -> dict[str, list[torch.Tensor]] | None:
        generators = self._generators()
        if not generators:
            return None
        return {
            "now": [generator.get_state() for generator in generators],
            "pass_start": [state.clone() for state in self._pass_start_generator_states],
        }

    def _start(self, position: int) -> Iterator[Any]:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("The DeterministicEngine that owns this data no longer exists.")
        state: Any = engine.state
        manual_seed(state.seed + self._pass_offset(engine, position))
        self._set_up_generators(engine, position)
        data = self.dataloader
        if self._batch_sampler is not None:
            self._batch_sampler.start_iteration = position or None
            drawn_before = self._batch_sampler._passes_drawn
            iterator = iter(data)
            if position and self._batch_sampler._passes_drawn == drawn_before:
                # The uninterrupted run drew this pass's order from the pass's seed: so does this one,
                # before the random state saved in the middle of the pass is restored.
                self._batch_sampler._draw_ahead()
        else:
            iterator = iterate_from(data, position)
        if engine._refetching():
            pass  # the batch fetched when the state was saved is fetched again first: see _batch_refetched
        elif position:
            engine._restore_loaded_rng_states()  # as they were when this position was saved
        else:
            engine._forget_loaded_rng_states()  # a pass's start is reproduced by its seed
        return iterator

    def _pass_offset(self, engine: DeterministicEngine, position: int) -> int:
        """What the pass starting ``position`` batches before the current iteration adds to the seed."""
        pass_start = engine.state.iteration - position
        loaded, engine._loaded_seed_offsets = engine._loaded_seed_offsets, None
        if loaded is not None:  # as the saving run had it, for the pass it was in or the one it had set up
            self._offset = loaded["pass"]
            self._next_offset = tuple(loaded["next"]) if loaded["next"] is not None else None
            if loaded.get("pass_start") == pass_start and self._offset is not None:
                self._pass_start = pass_start  # the saving run had opened this very pass (maybe not drawn from it)
                return self._offset
        if position and self._offset is not None:
            return self._offset
        if self._next_offset is not None and self._next_offset[0] == pass_start:
            offset = self._next_offset[1]
        else:
            try:
                pass_length: int | None = len(self)
            except TypeError:
                pass_length = None
            # ignite's rule: the pass's first iteration over the data's length (over 1 without a length)
            offset = pass_start // pass_length if pass_length else pass_start
        self._offset, self._next_offset = offset, None
        self._pass_start = pass_start
        return offset

    def _seed_offsets(self) -> dict[str, Any]:
        return {
            "pass": self._offset,
            "pass_start": self._pass_start,
            "next": list(self._next_offset) if self._next_offset is not None else None,
        }

    def _set_up_generators(self, engine: DeterministicEngine, position: int) -> None:
        """A DataLoader's own generators are not reseeded (ignite leaves them running): a resumed pass
        restores the states they had at its start (in the middle of a pass) or when it was saved."""
        generators = self._generators()
        loaded, engine._loaded_generator_states = engine._loaded_generator_states, None
        if loaded is not None:
            states = loaded["pass_start" if position else "now"]
            if len(states) != len(generators):
                raise ValueError(
                    f"The checkpoint holds the states of {len(states)} DataLoader generators, but the data given "
                    f"to run() has {len(generators)}. Resume with a DataLoader built as the saved run's was "
                    "(the same generator= and sampler arguments)."
                )
            for generator, saved in zip(generators, states):
                generator.set_state(saved)
        self._pass_start_generator_states = [generator.get_state() for generator in generators]
