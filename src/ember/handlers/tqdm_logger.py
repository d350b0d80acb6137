"""pytorch-ignite's import path ``ignite.handlers.tqdm_logger``; the code is in :mod:`ember.handlers.progress`."""

from ember.handlers.progress import ProgressBar

__all__ = ["ProgressBar"]
