"""ignite's ``ignite.distributed.launcher`` module path: :class:`~ember.distributed.Parallel`, for its import lines."""

from __future__ import annotations

from ember.distributed.launch import Parallel

__all__ = ["Parallel"]
