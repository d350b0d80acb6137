"""ignite's ``ignite.contrib.metrics.cohen_kappa`` path: the same names as :mod:`ember.metrics.cohen_kappa`."""

from ember.metrics.cohen_kappa import CohenKappa

__all__ = ["CohenKappa"]
