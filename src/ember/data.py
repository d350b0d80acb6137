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

from collections.abc import Iterator, Mapping, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

# The rank-aware sampler and loader live in the distributed layer, below this one, because
# ember.distributed.auto_dataloader returns them; they are ember.data's names too.
from ember.distributed.sampling import ResumableDataLoader, ResumableSampler, derive_seed

__all__ = ["ResumableDataLoader", "ResumableLoader", "ResumableSampler", "derive_seed"]


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
