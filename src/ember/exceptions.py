"""Exceptions ember raises that user code may want to catch by name.

:class:`NotComputableError` is the error :meth:`ember.metrics.Metric.compute` raises before a
metric has seen any data; ``ember.metrics`` re-exports it, and ignite's import line
``from ignite.exceptions import NotComputableError`` becomes ``from ember.exceptions import ...``.

>>> from ember.exceptions import NotComputableError
>>> from ember.metrics import Accuracy
>>> try:
...     Accuracy().compute()
... except NotComputableError:
...     print("no data yet")
no data yet
"""

from __future__ import annotations

__all__ = ["NotComputableError"]


class NotComputableError(RuntimeError):
    """Raised by a metric's ``compute()`` when it has no data to compute a value from.

    A :class:`RuntimeError`: asking for a value before any update is a call at the wrong moment.
    """
