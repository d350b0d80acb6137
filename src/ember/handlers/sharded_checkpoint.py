"""Sharded checkpoints: every rank writes its own shard with ``torch.distributed.checkpoint`` (DCP).

This module is where ember's sharded checkpoint names have always been importable from; the code
lives in :mod:`ember.handlers.checkpoint.sharded` (the folder format: verify, load, convert),
:mod:`ember.handlers.checkpoint.sharded_saver` (:class:`ShardedSaver`) and
:mod:`ember.handlers.checkpoint.discovery` (the newest complete folder, shared with plain files).

Example (each rank of a ``torchrun`` job)::

    from ember.handlers import Checkpoint, RNGStates
    from ember.handlers.sharded_checkpoint import ShardedSaver, resume_from_latest_sharded

    to_save = {"model": model, "optimizer": optimizer, "trainer": trainer, "rng": RNGStates()}
    resume_from_latest_sharded(to_save, "checkpoints")
    checkpoint = Checkpoint(to_save, ShardedSaver("checkpoints", require_empty=False), n_saved=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=500), checkpoint)
"""

from __future__ import annotations

from ember.handlers.checkpoint.discovery import find_latest_sharded_checkpoint, resume_from_latest_sharded
from ember.handlers.checkpoint.sharded import MARKER as MARKER  # the completion marker's file name, as before
from ember.handlers.checkpoint.sharded import dcp_to_torch_save, load_sharded_checkpoint, verify_sharded_checkpoint
from ember.handlers.checkpoint.sharded_saver import ShardedSaver

__all__ = [
    "ShardedSaver",
    "dcp_to_torch_save",
    "find_latest_sharded_checkpoint",
    "load_sharded_checkpoint",
    "resume_from_latest_sharded",
    "verify_sharded_checkpoint",
]
