"""pytorch-ignite's import path ``ignite.handlers.time_profilers``; the code is in :mod:`ember.handlers.profiler`."""

from ember.handlers.profiler import BasicTimeProfiler, HandlersTimeProfiler

__all__ = ["BasicTimeProfiler", "HandlersTimeProfiler"]
