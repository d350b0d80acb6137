"""The rank-aware, resumable sampler and loader under ``auto_dataloader``: torch's ``DistributedSampler``, resumable.

:class:`ResumableSampler` is a :class:`torch.utils.data.DistributedSampler` (same attributes, same
indices per rank for the same ``seed`` and epoch) that can also start a pass at any position, and
moves to the next pass by itself when nobody calls ``set_epoch``. :class:`ResumableDataLoader` is the
DataLoader around it that the engine resumes mid-epoch through ``iter_from``. Both live here, in the
distributed layer, because :func:`ember.distributed.auto_dataloader` returns them; :mod:`ember.data`
re-exports them next to its single-process :class:`~ember.data.ResumableLoader`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ember.distributed.process import get_rank, get_world_size

__all__ = ["ResumableDataLoader", "ResumableSampler", "derive_seed"]


def derive_seed(*numbers: int) -> int:
    """A 63-bit seed mixed from ``numbers`` (e.g. a run seed and a pass index), the same on every platform.

    >>> derive_seed(0, 1) == derive_seed(0, 1), derive_seed(0, 1) == derive_seed(1, 0)
    (True, False)
    """
    digest = hashlib.blake2b(b",".join(str(n).encode() for n in numbers), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class ResumableSampler(DistributedSampler[int]):
    """torch's ``DistributedSampler``, resumable: this rank's indices of a pass, from any position on.

    It is a :class:`torch.utils.data.DistributedSampler` (``isinstance`` holds) with its attributes
    (``num_replicas``, ``rank``, ``shuffle``, ``seed``, ``drop_last``, ``epoch``, ``num_samples``,
    ``total_size``, ``dataset``) and its indices: for the same length, seed and epoch, rank ``r``
    yields what torch's sampler yields on rank ``r`` (a permutation drawn from a generator seeded
    with ``seed + epoch``, padded by its first indices or cut to a multiple of the ranks, then every
    ``num_replicas``-th index from position ``r`` on).

    Args:
        length: the number of samples (``len(dataset)``).
        shuffle: permute the indices; the permutation depends only on ``seed + pass_index``.
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

    What it adds to torch's: :meth:`set_pass` starts a pass at this rank's ``start``-th index
    without computing anything per skipped sample (the engine's mid-epoch resume), and when nobody
    calls :meth:`set_epoch` before an iteration, it moves on to the next pass by itself, so a
    hand-written loop gets a new order every epoch (torch's repeats the last epoch's order). The
    engine calls ``set_epoch`` at the start of every pass; a handler of yours that calls it too,
    as ignite's examples do, is obeyed.

    >>> sampler = ResumableSampler(5, shuffle=True, seed=3)
    >>> full = list(sampler)
    >>> sampler.set_pass(0, start=2)
    >>> list(sampler) == full[2:]
    True
    >>> [list(ResumableSampler(5, shuffle=False, num_replicas=2, rank=rank)) for rank in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    >>> isinstance(sampler, torch.utils.data.DistributedSampler), sampler.total_size, sampler.epoch
    (True, 5, 0)
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
            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer (the number of ranks), got {num_replicas!r}.")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an integer from 0 to num_replicas - 1 = {num_replicas - 1}, got {rank!r}.")
        # DistributedSampler.__init__ is not called: it needs a dataset, and a process group for its
        # defaults; these are all the attributes it sets, with the values it would give them.
        self.dataset = range(length)  # type: ignore[assignment]  # a Sized stand-in; auto_dataloader sets the real one
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.even = even
        self.epoch = 0
        #: the number of indices this rank yields in a whole pass
        if not even:
            self.num_samples = len(range(rank, length, num_replicas))
            self.total_size = length
        else:
            self.num_samples = length // num_replicas if drop_last else -(-length // num_replicas)
            self.total_size = self.num_samples * num_replicas
        self.start = 0
        self._pass_chosen = False
        self._started = False
        self._claimed = False

    @property
    def pass_index(self) -> int:
        """The pass the current (or next) iteration yields: torch's ``epoch``, by ember's name."""
        return self.epoch

    @pass_index.setter
    def pass_index(self, value: int) -> None:
        self.epoch = value

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
        """All indices of pass ``pass_index``, in order, before sharding (torch's order for epoch ``pass_index``)."""
        if not self.shuffle:
            return torch.arange(self.length)
        generator = torch.Generator()
        generator.manual_seed(self.seed + pass_index)
        return torch.randperm(self.length, generator=generator)

    def shard(self, pass_index: int) -> torch.Tensor:
        """This rank's indices of pass ``pass_index``, in order."""
        order = self.order(pass_index)
        if not self.even:
            return order[self.rank :: self.num_replicas]
        total = self.total_size
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
