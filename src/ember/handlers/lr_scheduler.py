"""ember's import path of :class:`~ember.handlers.param_scheduler.LRScheduler` (one class, two spellings)."""

from ember.handlers.param_scheduler import LRScheduler

__all__ = ["LRScheduler"]
