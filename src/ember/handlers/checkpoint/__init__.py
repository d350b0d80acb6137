"""Checkpoints that never lose a run: atomic, checksummed, optionally asynchronous saves, and exact resume.

The package is split by concern, one job per module:

- :mod:`~ember.handlers.checkpoint.format`: the file format and its verification
  (:func:`verify_checkpoint`, :func:`load_checkpoint`, :class:`CorruptCheckpointError`);
- :mod:`~ember.handlers.checkpoint.savers`: where checkpoints are written (:class:`DiskSaver`,
  :class:`BaseSaveHandler`), atomically and optionally in the background;
- :mod:`~ember.handlers.checkpoint.objects`: checking ``to_save`` / ``to_load`` and moving state
  in and out of them;
- :mod:`~ember.handlers.checkpoint.discovery`: the newest valid checkpoint of a folder, files and
  sharded folders alike (:func:`find_latest_checkpoint`, :func:`resume_from_latest` and their
  sharded twins);
- :mod:`~ember.handlers.checkpoint.policy`: when to save and what to keep (:class:`Checkpoint`,
  :class:`ModelCheckpoint`);
- :mod:`~ember.handlers.checkpoint.sharded` and :mod:`~ember.handlers.checkpoint.sharded_saver`:
  sharded checkpoint folders written by every rank (re-exported by
  :mod:`ember.handlers.sharded_checkpoint`).

Every name is importable from here, as from ``ignite.handlers.checkpoint``.
"""

from __future__ import annotations

from ember.handlers.checkpoint.discovery import find_latest_checkpoint, resume_from_latest
from ember.handlers.checkpoint.format import CorruptCheckpointError, load_checkpoint, verify_checkpoint
from ember.handlers.checkpoint.policy import Checkpoint, CheckpointEvents, ModelCheckpoint
from ember.handlers.checkpoint.savers import BaseSaveHandler, DiskSaver, SaveHandler
from ember.random import RNGStates

__all__ = [
    "BaseSaveHandler",
    "Checkpoint",
    "CheckpointEvents",
    "CorruptCheckpointError",
    "DiskSaver",
    "ModelCheckpoint",
    "RNGStates",
    "SaveHandler",
    "find_latest_checkpoint",
    "load_checkpoint",
    "resume_from_latest",
    "verify_checkpoint",
]
