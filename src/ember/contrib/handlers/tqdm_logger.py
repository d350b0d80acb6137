"""pytorch-ignite 0.5's ``ignite.contrib.handlers.tqdm_logger``."""

from ember.handlers.progress import ProgressBar

__all__ = ["ProgressBar"]
