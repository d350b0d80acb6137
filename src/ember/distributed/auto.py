"""``auto_model``, ``auto_optim``, ``auto_dataloader``: the same training code for one process or many.

Each one looks at the process group (:func:`~ember.distributed.get_world_size`,
:func:`~ember.distributed.device`) and adapts what it is given: the model moves to this process's
device and is wrapped for data parallelism, the data is sharded by rank, the batch size and worker
count are split between the processes of a machine as ignite does. With one process they only move
the model and build a DataLoader.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from ember.distributed.environment import warn_if_launched_without_group
from ember.distributed.process import device, get_local_rank, get_nproc_per_node, get_rank, get_world_size
from ember.distributed.sampling import ResumableDataLoader, ResumableSampler

__all__ = [
    "DistributedProxySampler",
    "auto_dataloader",
    "auto_model",
    "auto_optim",
    "model_strategies",
    "register_model_strategy",
]

ModelStrategy = Callable[..., torch.nn.Module]

_STRATEGIES: dict[str, ModelStrategy] = {}

# Strategies that live in their own module register themselves when it is imported; auto_model
# imports it the first time such a strategy is asked for.
_STRATEGY_MODULES = {"fsdp": "ember.distributed.sharding"}


def register_model_strategy(name: str, strategy: ModelStrategy) -> None:
    """Make ``auto_model(model, strategy=name, **options)`` call ``strategy(model, sync_bn=..., **options)``.

    ``strategy`` receives the model as the user gave it (on any device) and returns the model to
    train: moved to :func:`device` and wrapped as the strategy needs. ``"ddp"`` is built in.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"A model strategy needs a non-empty string name, got {name!r}.")
    if not callable(strategy):
        raise TypeError(f"A model strategy must be callable as strategy(model, **options), got {strategy!r}.")
    _STRATEGIES[name] = strategy


def model_strategies() -> tuple[str, ...]:
    """The names ``auto_model``'s ``strategy`` accepts.

    >>> "ddp" in model_strategies()
    True
    """
    return tuple(sorted({*_STRATEGIES, *_STRATEGY_MODULES}))


def _data_parallel(model: torch.nn.Module, sync_bn: bool = False, **ddp_kwargs: Any) -> torch.nn.Module:
    """The ``"ddp"`` strategy: to this process's device, and in DistributedDataParallel with several processes."""
    model = model.to(device())
    if get_world_size() == 1:
        if ddp_kwargs:
            # the options are meant for DistributedDataParallel, which one process does not use
            unknown = sorted(ddp_kwargs)
            warnings.warn(
                f"auto_model got DistributedDataParallel options {unknown}, which one process does not use.",
                stacklevel=3,
            )
        return model
    if sync_bn:
        if device().type != "cuda":
            raise ValueError(
                "auto_model got sync_bn=True on CPU processes, but PyTorch's SyncBatchNorm works only on CUDA GPUs. "
                "Leave sync_bn False on CPU (each rank then normalises with its own batch statistics)."
            )
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
    if device().type == "cuda":
        ddp_kwargs.setdefault("device_ids", [get_local_rank()])
    return torch.nn.parallel.DistributedDataParallel(model, **ddp_kwargs)


register_model_strategy("ddp", _data_parallel)


def auto_model(model: torch.nn.Module, sync_bn: bool = False, strategy: str = "ddp", **kwargs: Any) -> torch.nn.Module:
    """The model ready to train in this process: on :func:`device`, and wrapped for several processes.

    With the default ``strategy="ddp"``: moved to :func:`device`; with more than one process,
    wrapped in :class:`torch.nn.parallel.DistributedDataParallel` (``device_ids=[local rank]`` on a
    GPU), after converting its BatchNorm layers to :class:`torch.nn.SyncBatchNorm` when ``sync_bn``.
    ``kwargs`` go to ``DistributedDataParallel`` (e.g. ``find_unused_parameters=True``). Other
    strategies (``model_strategies()`` lists them) take their own options.

    Save ``model`` (the unwrapped one) in checkpoints, so that its keys carry no ``module.`` prefix.

    >>> net = auto_model(torch.nn.Linear(2, 1))
    >>> next(net.parameters()).device.type == device().type
    True
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"auto_model takes a torch.nn.Module, got {type(model).__name__}.")
    warn_if_launched_without_group()
    if not isinstance(sync_bn, bool):
        raise TypeError(f"sync_bn must be True or False, got {sync_bn!r}.")
    if strategy not in _STRATEGIES and strategy in _STRATEGY_MODULES:
        importlib.import_module(_STRATEGY_MODULES[strategy])
    if strategy not in _STRATEGIES:
        raise ValueError(f"auto_model strategy must be one of {list(model_strategies())}, got strategy={strategy!r}.")
    return _STRATEGIES[strategy](model, sync_bn=sync_bn, **kwargs)


def auto_optim(optimizer: torch.optim.Optimizer, **kwargs: Any) -> torch.optim.Optimizer:
    """The optimizer for this process: with torch.distributed, the same optimizer (DDP already averages gradients).

    ignite passes ``kwargs`` to Horovod's or XLA's optimizer wrappers, which ember does not use;
    giving some is an error rather than silently ignored.

    >>> net = torch.nn.Linear(2, 1)
    >>> optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    >>> auto_optim(optimizer) is optimizer
    True
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"auto_optim takes a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    warn_if_launched_without_group()
    if kwargs:
        raise TypeError(
            f"auto_optim got options {sorted(kwargs)}, which ignite passes to Horovod's or XLA's optimizer wrappers; "
            "ember trains on torch.distributed, where the optimizer needs no wrapper. Leave them out."
        )
    return optimizer


class DistributedProxySampler(DistributedSampler[int]):
    """This rank's share of the indices another sampler yields (ignite's name): disjoint, equal-length shards.

    A torch ``DistributedSampler`` (as ignite's is), with its attributes: ``dataset`` is the wrapped
    sampler, ``shuffle`` is False (the wrapped sampler decides the order). Every pass draws the
    wrapped sampler's indices (calling its ``set_epoch`` first when it has one), repeats the first
    ones until all ranks can take the same number, and yields every ``num_replicas``-th from this
    rank's position.

    >>> [list(DistributedProxySampler(range(5), num_replicas=2, rank=rank)) for rank in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(self, sampler: Any, num_replicas: int | None = None, rank: int | None = None) -> None:
        if not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__"):
            raise TypeError(f"DistributedProxySampler wraps a sampler with __iter__ and __len__, got {sampler!r}.")
        self.sampler = sampler
        self.num_replicas = get_world_size() if num_replicas is None else num_replicas
        self.rank = get_rank() if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank must be from 0 to {self.num_replicas - 1}, got rank={self.rank}.")
        # DistributedSampler.__init__ is not called (it asks the process group for defaults); these are its attributes
        self.dataset = sampler
        self.shuffle, self.seed, self.drop_last = False, 0, False
        self.num_samples = -(-len(sampler) // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Pass ``epoch`` on to the wrapped sampler before the next iteration."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        indices = list(self.sampler)
        total = self.num_samples * self.num_replicas
        while indices and len(indices) < total:
            indices += indices[: total - len(indices)]
        return iter(indices[self.rank : total : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples


def auto_dataloader(dataset: Dataset[Any], **kwargs: Any) -> DataLoader[Any]:
    """A DataLoader giving this rank its share of ``dataset`` (ignite's ``auto_dataloader``).

    ``kwargs`` are DataLoader options. With several processes, as in ignite, ``batch_size`` is
    divided by the world size (so the *global* batch stays what you passed) and ``num_workers``
    by the processes per machine (rounded up); a batch_size below the world size is kept. Without
    a ``sampler``, a map-style dataset gets a
    :class:`~ember.distributed.sampling.ResumableSampler`, a torch ``DistributedSampler`` with
    torch's indices per rank for the same seed and epoch (``shuffle``, True by default with several
    processes as in ignite, and ``seed=``, 0 by default as torch's, choose the order), plus a new
    order every epoch and exact, O(1) mid-epoch resume through the engine's ``iter_from``; a
    :class:`~ember.distributed.sampling.ResumableDataLoader` comes back. A sampler you pass is
    wrapped in :class:`DistributedProxySampler` (a ``DistributedSampler`` is kept as it is).
    ``pin_memory`` defaults to True when the device is a GPU.

    ember's own options: ``seed`` (the data order's seed), and ``even_shards=False`` for an
    evaluation loader: the shards then differ by up to one sample and hold every sample once, so
    metrics equal the single-process values (with the default, the first samples repeat so that
    all ranks run as many iterations, which training under DDP needs).

    >>> loader = auto_dataloader(list(range(10)), batch_size=4, shuffle=True, seed=1)
    >>> sorted(index for batch in loader for index in batch.tolist())
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    warn_if_launched_without_group()
    options = dict(kwargs)
    seed = options.pop("seed", 0)
    even_shards = options.pop("even_shards", True)
    world_size = get_world_size()
    if "sampler" in options and options.get("shuffle"):
        raise ValueError(
            "auto_dataloader got a sampler and shuffle=True: the sampler decides the order, so shuffle has no "
            "meaning. Leave shuffle out (shuffle inside the sampler), or drop the sampler and keep shuffle=True."
        )
    if "batch_sampler" in options and world_size > 1:
        raise ValueError(
            "auto_dataloader got a batch_sampler under torch.distributed: it cannot shard one by rank. Pass a "
            "sampler (it is wrapped to shard by rank) and batch_size instead."
        )
    if world_size > 1:
        batch_size = options.get("batch_size", 1)
        if isinstance(batch_size, int) and not isinstance(batch_size, bool):
            if batch_size < world_size:
                warnings.warn(
                    f"batch_size={batch_size} is smaller than the {world_size} processes, so it is not divided: each "
                    f"process takes {batch_size} and the global batch is {batch_size * world_size}.",
                    stacklevel=2,
                )
            else:
                if batch_size % world_size:
                    warnings.warn(
                        f"batch_size={batch_size} is not a multiple of the {world_size} processes: each takes "
                        f"{batch_size // world_size}, so the global batch is {batch_size // world_size * world_size}.",
                        stacklevel=2,
                    )
                options["batch_size"] = batch_size // world_size
        workers = options.get("num_workers", 0)
        nproc = get_nproc_per_node()
        if isinstance(workers, int) and workers >= nproc:
            options["num_workers"] = (workers + nproc - 1) // nproc
    options.setdefault("pin_memory", device().type == "cuda")
    if isinstance(dataset, IterableDataset):
        if world_size > 1:
            warnings.warn(
                "auto_dataloader got an IterableDataset: it cannot shard it. Make the dataset yield only this "
                "rank's share (see ember.distributed.get_rank), or every rank trains on all of it.",
                stacklevel=2,
            )
        options.pop("shuffle", None)
        return DataLoader(dataset, **options)
    if "sampler" in options:
        sampler = options["sampler"]
        if world_size > 1 and not isinstance(sampler, DistributedSampler):
            options["sampler"] = DistributedProxySampler(sampler)
        options.pop("shuffle", None)
        return DataLoader(dataset, **options)
    if "batch_sampler" in options:
        return DataLoader(dataset, **options)
    if not hasattr(dataset, "__len__"):
        raise TypeError(
            f"auto_dataloader needs a dataset with __len__ or an IterableDataset, got {type(dataset).__name__}."
        )
    # as ignite: shuffled by default under torch.distributed (like DistributedSampler), as given otherwise
    shuffle = bool(options.pop("shuffle", world_size > 1))
    sampler = ResumableSampler(len(dataset), shuffle=shuffle, seed=seed, even=even_shards)
    sampler.dataset = dataset  # torch's DistributedSampler attribute, for code that reads it
    return ResumableDataLoader(dataset, sampler, **options)
