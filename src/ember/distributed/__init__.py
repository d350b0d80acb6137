"""ember's ``idist``: rank and topology, collectives, launchers and ``auto_*`` helpers on torch.distributed.

This package is the only place in ember that calls :mod:`torch.distributed`, and it offers ignite's
``ignite.distributed`` API: ``import ember.distributed as idist`` runs ignite code. Everything here
also works in a single, non-distributed process: the rank is 0, the world size is 1 and every
collective returns its input without communicating, so code written with these helpers runs
unchanged with one process or many.

>>> import torch
>>> import ember.distributed as idist
>>> idist.get_rank(), idist.get_world_size(), idist.is_distributed()
(0, 1, False)
>>> idist.all_reduce(torch.tensor([1.0, 2.0])), idist.all_reduce(2.5, op="MAX")
(tensor([1., 2.]), 2.5)
"""

from __future__ import annotations

from ember.distributed.auto import (
    DistributedProxySampler,
    auto_dataloader,
    auto_model,
    auto_optim,
    model_strategies,
    register_model_strategy,
)
from ember.distributed.collectives import (
    all_gather,
    all_gather_tensors_with_shapes,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object,
    new_group,
    one_rank_first,
    one_rank_only,
)
from ember.distributed.decide import decide_on_rank
from ember.distributed.environment import show_config
from ember.distributed.launch import Parallel, RankRaisedError, finalize, initialize, spawn
from ember.distributed.process import (
    available_backends,
    backend,
    device,
    get_backend,
    get_local_rank,
    get_nnodes,
    get_node_rank,
    get_nproc_per_node,
    get_rank,
    get_world_size,
    has_hvd_support,
    has_native_dist_support,
    has_xla_support,
    hostname,
    is_distributed,
    model_name,
    set_local_rank,
    sync,
)

__all__ = [
    "DistributedProxySampler",
    "Parallel",
    "RankRaisedError",
    "all_gather",
    "all_gather_tensors_with_shapes",
    "all_reduce",
    "auto_dataloader",
    "auto_model",
    "auto_optim",
    "available_backends",
    "backend",
    "barrier",
    "broadcast",
    "broadcast_object",
    "decide_on_rank",
    "device",
    "finalize",
    "get_backend",
    "get_local_rank",
    "get_nnodes",
    "get_node_rank",
    "get_nproc_per_node",
    "get_rank",
    "get_world_size",
    "has_hvd_support",
    "has_native_dist_support",
    "has_xla_support",
    "hostname",
    "initialize",
    "is_distributed",
    "model_name",
    "model_strategies",
    "new_group",
    "one_rank_first",
    "one_rank_only",
    "register_model_strategy",
    "set_local_rank",
    "show_config",
    "spawn",
    "sync",
]
