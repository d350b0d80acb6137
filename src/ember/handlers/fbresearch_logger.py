"""pytorch-ignite's ``ignite.handlers.fbresearch_logger``; the code is in :mod:`ember.handlers.loggers.fbresearch`."""

from ember.handlers.loggers.fbresearch import FBResearchLogger

__all__ = ["FBResearchLogger"]
