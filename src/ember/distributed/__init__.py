"""Distributed helpers: rank, world size, collectives and launchers, with a serial fallback.

This package is the only place in ember that calls :mod:`torch.distributed`. Everything here also
works in a single, non-distributed process: the rank is 0, the world size is 1 and every collective
returns its input without communicating, so code written with these helpers runs unchanged with
one process or many.

>>> import torch
>>> from ember import distributed
>>> distributed.get_rank(), distributed.get_world_size(), distributed.is_distributed()
(0, 1, False)
>>> distributed.all_reduce(torch.tensor([1.0, 2.0]))
tensor([1., 2.])
"""

from __future__ import annotations

from ember.distributed.collectives import all_gather, all_reduce, barrier, broadcast_object
from ember.distributed.launch import finalize, initialize, spawn
from ember.distributed.process import get_backend, get_local_rank, get_rank, get_world_size, is_distributed

__all__ = [
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast_object",
    "finalize",
    "get_backend",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "initialize",
    "is_distributed",
    "spawn",
]
