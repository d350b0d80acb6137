"""pytorch-ignite 0.5's ``ignite.contrib.handlers.lr_finder``: :class:`~ember.handlers.lr_finder.FastaiLRFinder`."""

from ember.handlers.lr_finder import FastaiLRFinder

__all__ = ["FastaiLRFinder"]
