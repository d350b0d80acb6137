"""pytorch-ignite 0.5's ``ignite.contrib.handlers.time_profilers``."""

from ember.handlers.profiler import BasicTimeProfiler, HandlersTimeProfiler

__all__ = ["BasicTimeProfiler", "HandlersTimeProfiler"]
