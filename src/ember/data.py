"""Seeded, resumable data loading: the batch order is a function of (seed, pass), and a pass can start anywhere.

:class:`ResumableLoader` wraps a :class:`torch.utils.data.DataLoader` around a :class:`ResumableSampler`.
Pass ``k`` over the data visits the samples in ``permutation(seed, k)``; the loader counts its passes and
saves that count in :meth:`ResumableLoader.state_dict`. When the engine resumes mid-epoch it calls
``iter_from(position)``, which starts the sampler ``position`` batches into the interrupted pass: the
skipped samples are never loaded, so resuming at the last batch costs as much as resuming at the first.

The loader also gives the DataLoader its own generator, reseeded for every pass, so starting a pass
never draws from torch's global generator (a plain DataLoader draws its workers' base seed from it,
which would make the training randomness depend on where the run was resumed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["ResumableDataLoader", "ResumableLoader", "ResumableSampler", "derive_seed"]


def derive_seed(*numbers: int) -> int:
    """A 63-bit seed mixed from ``numbers`` (e.g. a run seed and a pass index), the same on every platform.

    >>> derive_seed(0, 1) == derive_seed(0, 1), derive_seed(0, 1) == derive_seed(1, 0)
    (True, False)
    """
    digest = hashlib.blake2b(b",".join(str(n).encode() for n in numbers), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class ResumableSampler(Sampler[int]):
    """Yields this rank's indices of pass ``pass_index`` (a seeded permutation, or 0..n-1), from ``start`` on.

    Args:
        length: the number of samples (``len(dataset)``).
        shuffle: permute the indices; the permutation depends only on ``(seed, pass_index)``.
        seed: the run's data seed (the same on every rank).
        num_replicas: the number of ranks sharing the data; the world size by default (1 without
            ``torch.distributed``).
        rank: which share this sampler yields; this process's rank by default.
        drop_last: with a length that the ranks cannot share evenly, drop the last samples of the
            pass instead of repeating its first ones (every rank must yield as many indices, or
            the ranks would run different numbers of iterations and block each other).
        even: give every rank as many indices (by repeating or dropping, see ``drop_last``). With
            ``even=False`` the shards differ by up to one index and hold every sample exactly
            once: for evaluation, where ember's metrics combine uneven shards exactly; never for
            training under DDP, where a rank with one batch more would wait for the others.

    Each pass orders all samples once; rank ``r`` takes every ``num_replicas``-th index from
    position ``r`` on, so the shards are disjoint and together cover the pass (with up to
    ``num_replicas - 1`` samples repeated or dropped when the length is not a multiple). Starting
    at ``start`` skips indices without computing anything per skipped sample.

    The pass is chosen by :meth:`set_epoch` (the engine calls it at the start of every pass, as
    for torch's ``DistributedSampler``) or :meth:`set_pass`; when nobody chose, each new iteration
    moves on to the next pass by itself, so a hand-written loop also gets a new order every epoch.

    >>> sampler = ResumableSampler(5, shuffle=True, seed=3)
    >>> full = list(sampler)
    >>> sampler.set_pass(0, start=2)
    >>> list(sampler) == full[2:]
    True
    >>> [list(ResumableSampler(5, shuffle=False, num_replicas=2, rank=rank)) for rank in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(
        self,
        length: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        even: bool = True,
    ) -> None:
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError(f"length must be an integer (len(dataset)), got {length!r} ({type(length).__name__}).")
        if length < 0:
            raise ValueError(f"length must be a non-negative integer (len(dataset)), got {length!r}.")
        if num_replicas is None or rank is None:
            from ember.distributed import get_rank, get_world_size

            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer (the number of ranks), got {num_replicas!r}.")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an integer from 0 to num_replicas - 1 = {num_replicas - 1}, got {rank!r}.")
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.even = even
        #: the number of indices this rank yields in a whole pass
        if not even:
            self.num_samples = len(range(rank, length, num_replicas))
        else:
            self.num_samples = length // num_replicas if drop_last else -(-length // num_replicas)
        self.pass_index = 0
        self.start = 0
        self._pass_chosen = False
        self._started = False
        self._claimed = False

    def set_pass(self, pass_index: int, start: int = 0) -> None:
        """Make the next iteration yield pass ``pass_index`` from this rank's ``start``-th index."""
        if not 0 <= start <= self.num_samples:
            raise ValueError(
                f"start must be between 0 and {self.num_samples} (the samples of this rank's pass), got {start}."
            )
        self.pass_index, self.start = pass_index, start
        self._pass_chosen = True

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration yield pass ``epoch`` from its start (torch's ``DistributedSampler`` name)."""
        self.set_pass(epoch)

    def _claim_pass(self) -> int:
        """Decide the pass the next iteration yields: the chosen one, or the one after the last."""
        if not self._pass_chosen and self._started:
            self.pass_index, self.start = self.pass_index + 1, 0
        self._pass_chosen = False
        self._started = True
        return self.pass_index

    def order(self, pass_index: int) -> torch.Tensor:
        """All indices of pass ``pass_index``, in order, before sharding."""
        if not self.shuffle:
            return torch.arange(self.length)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, pass_index))
        return torch.randperm(self.length, generator=generator)

    def shard(self, pass_index: int) -> torch.Tensor:
        """This rank's indices of pass ``pass_index``, in order."""
        order = self.order(pass_index)
        if not self.even:
            return order[self.rank :: self.num_replicas]
        total = self.num_samples * self.num_replicas
        if total > self.length and self.length:
            order = order.repeat(-(-total // self.length))
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        if not self._claimed:
            self._claim_pass()
        self._claimed = False
        return iter(self.shard(self.pass_index)[self.start :].tolist())

    def __len__(self) -> int:
        return self.num_samples - self.start


class ResumableDataLoader(DataLoader[Any]):
    """A :class:`torch.utils.data.DataLoader` over a :class:`ResumableSampler` that can start a pass at any batch.

    It is what :func:`ember.distributed.auto_dataloader` returns: a real DataLoader (``len``,
    ``.sampler``, ``.dataset`` as usual) whose sampler is sharded by rank, plus the engine's resume
    hook ``iter_from(position)``, which starts the current pass ``position`` batches in without
    loading the skipped samples. The engine chooses the pass with ``sampler.set_epoch`` before every
    pass, so a resumed run continues the same order. Each pass also reseeds the loader's generator
    from ``(seed, pass)``, so workers' seeds, and torch's global generator, do not depend on where
    the run was resumed.

    Args:
        dataset: a map-style dataset.
        sampler: a :class:`ResumableSampler` for ``len(dataset)``.
        **loader_options: any other DataLoader option except ``shuffle``, ``batch_sampler`` and ``generator``.

    >>> loader = ResumableDataLoader(list(range(6)), ResumableSampler(6, shuffle=False), batch_size=2)
    >>> [batch.tolist() for batch in loader.iter_from(1)]
    [[2, 3], [4, 5]]
    """

    def __init__(self, dataset: Dataset[Any], sampler: ResumableSampler, **loader_options: Any) -> None:
        if not isinstance(sampler, ResumableSampler):
            raise TypeError(f"sampler must be an ember.data.ResumableSampler, got {type(sampler).__name__}.")
        refused = sorted({"shuffle", "batch_sampler", "generator"} & set(loader_options))
        if refused:
            raise TypeError(
                f"ResumableDataLoader sets {refused} itself. Leave them out; the sampler's shuffle and seed choose "
                "the order."
            )
        super().__init__(dataset, sampler=sampler, generator=torch.Generator(), **loader_options)
        self.resumable_sampler = sampler

    def __len__(self) -> int:
        """Batches in a whole pass of this rank, wherever the current pass started."""
        samples = self.resumable_sampler.num_samples
        batch_size = self.batch_size or 1
        return samples // batch_size if self.drop_last else -(-samples // batch_size)

    def __iter__(self) -> Any:
        sampler = self.resumable_sampler
        pass_index = sampler._claim_pass()
        sampler._claimed = True
        assert self.generator is not None
        self.generator.manual_seed(derive_seed(sampler.seed, pass_index, 1))
        return super().__iter__()

    def state_dict(self) -> dict[str, Any]:
        """``{"pass_index": p, "started": bool, "seed": s}``: which pass the data is in, for a checkpoint.

        The engine already chooses the pass with ``set_epoch``; saving this too lets a hand-written
        loop (or any engine) resume the same pass.
        """
        sampler = self.resumable_sampler
        return {"pass_index": sampler.pass_index, "started": sampler._started, "seed": sampler.seed}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`: ``iter_from`` continues that pass, a plain iteration starts the next."""
        if "pass_index" not in state_dict:
            raise ValueError(
                f"ResumableDataLoader.load_state_dict needs the key 'pass_index', got {sorted(state_dict)}."
            )
        sampler = self.resumable_sampler
        if state_dict.get("seed", sampler.seed) != sampler.seed:
            raise ValueError(
                f"The saved loader used seed={state_dict['seed']}, this one seed={sampler.seed}. Create the loader "
                "with the saved seed to resume the same run."
            )
        sampler.pass_index, sampler.start = int(state_dict["pass_index"]), 0
        sampler._started = bool(state_dict.get("started", True))
        sampler._pass_chosen = False

    def iter_from(self, position: int) -> Iterator[Any]:
        """Continue the current pass (the one chosen by ``set_epoch``, or the last) at batch ``position``."""
        if isinstance(position, bool) or not isinstance(position, int):
            raise TypeError(
                f"position must be an integer, got {position!r} ({type(position).__name__}). Pass a batch index."
            )
        if not 0 <= position <= len(self):
            raise ValueError(f"position must be a batch index between 0 and {len(self)}, got {position!r}.")
        sampler = self.resumable_sampler
        sampler.set_pass(sampler.pass_index, start=min(position * (self.batch_size or 1), sampler.num_samples))
        return iter(self)


class ResumableLoader:
    """A DataLoader whose passes are reproducible and which can start a pass at any batch.

    Args:
        dataset: a map-style dataset (with ``__len__`` and ``__getitem__``).
        batch_size, drop_last: as for :class:`~torch.utils.data.DataLoader`.
        shuffle: shuffle every pass, with a permutation fixed by ``(seed, pass)``.
        seed: the data seed.
        **loader_options: any other DataLoader option (``num_workers``, ``collate_fn``,
            ``pin_memory`` ...), except ``sampler``, ``batch_sampler`` and ``generator``.

    Put it in ``to_save`` next to the engine: its state is the number of passes started, and the
    engine's ``iter_from(position)`` call picks the position in the pass. It yields the whole
    dataset in every process; under ``torch.distributed``, give each rank its share with
    :func:`ember.distributed.auto_dataloader` (a :class:`ResumableDataLoader` sharded by rank), or
    pass each rank its own part of the dataset.

    What a dataset must do for exact resume: ``__getitem__`` must give the same sample for the same
    index. Random augmentation must draw from a generator seeded from the index (and pass) rather
    than from a worker's running generator, because after a resume each worker starts afresh.

    >>> loader = ResumableLoader(list(range(10)), batch_size=4, shuffle=True, seed=0)
    >>> first_pass = [batch.tolist() for batch in loader]
    >>> saved = loader.state_dict()
    >>> again = ResumableLoader(list(range(10)), batch_size=4, shuffle=True, seed=0)
    >>> again.load_state_dict(saved)
    >>> [batch.tolist() for batch in again.iter_from(1)] == first_pass[1:]
    True
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        batch_size: int = 1,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        **loader_options: Any,
    ) -> None:
        if not isinstance(dataset, Sized):
            raise TypeError(
                f"ResumableLoader needs a map-style dataset with __len__, got {type(dataset).__name__}. For an "
                "iterable dataset, pass a plain DataLoader: the engine then fast-forwards when resuming."
            )
        refused = sorted({"sampler", "batch_sampler", "generator", "shuffle"} & set(loader_options))
        if refused:
            raise TypeError(
                f"ResumableLoader sets {refused} itself. Leave them out; use shuffle= and seed= to choose the order."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an integer, got {batch_size!r} ({type(batch_size).__name__}).")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        # one shard: the whole dataset in every process, whatever the process group
        self.sampler = ResumableSampler(len(dataset), shuffle=shuffle, seed=seed, num_replicas=1, rank=0)
        self._generator = torch.Generator()
        self.loader: DataLoader[Any] = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=self.sampler,
            drop_last=drop_last,
            generator=self._generator,
            **loader_options,
        )
        self.passes_started = 0

    def __len__(self) -> int:
        samples = self.sampler.num_samples
        return samples // self.batch_size if self.drop_last else -(-samples // self.batch_size)

    def _start(self, pass_index: int, position: int) -> Iterator[Any]:
        self.sampler.set_pass(pass_index, start=min(position * self.batch_size, self.sampler.num_samples))
        # fixes the workers' base seed for this pass, without touching torch's global generator
        self._generator.manual_seed(derive_seed(self.seed, pass_index, 1))
        return iter(self.loader)

    def __iter__(self) -> Iterator[Any]:
        """Start the next pass from its first batch."""
        iterator = self._start(self.passes_started, 0)
        self.passes_started += 1
        return iterator

    def iter_from(self, position: int) -> Iterator[Any]:
        """Continue the current pass (the last one started) at batch ``position``, loading none before it."""
        if isinstance(position, bool) or not isinstance(position, int):
            raise TypeError(
                f"position must be an integer, got {position!r} ({type(position).__name__}). Pass a batch index."
            )
        if not 0 <= position <= len(self):
            raise ValueError(f"position must be a batch index between 0 and {len(self)}, got {position!r}.")
        if self.passes_started == 0:
            if position:
                raise RuntimeError(
                    f"iter_from({position}) was called before any pass started, so there is no pass to continue. "
                    "Load the loader's state_dict from the checkpoint first."
                )
            return iter(self)
        return self._start(self.passes_started - 1, position)

    def state_dict(self) -> dict[str, Any]:
        """``{"passes_started": n, "seed": s}``: with the engine's iteration, where the data stands."""
        return {"passes_started": self.passes_started, "seed": self.seed}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the seeds must match, or the restored order would be another run's."""
        if "passes_started" not in state_dict:
            raise ValueError(
                f"ResumableLoader.load_state_dict needs the key 'passes_started', got {sorted(state_dict)}."
            )
        if state_dict.get("seed", self.seed) != self.seed:
            raise ValueError(
                f"The saved loader used seed={state_dict['seed']}, this one seed={self.seed}. Create the loader "
                "with the saved seed to resume the same run."
            )
        self.passes_started = int(state_dict["passes_started"])
