"""Deprecated module path (ember 0.1/0.2): :class:`EventSyncCheck` is a handler and lives in :mod:`ember.handlers`.

``from ember.distributed.debug import EventSyncCheck`` still works and warns. The distributed layer
never imports the engine or the handlers at module level (it is the bottom layer): the names are
fetched from :mod:`ember.handlers.event_sync` when first asked for, the only import from this layer
upward, which goes when the alias does. Removed in ember 0.4 (see the versioning and deprecation
policy).
"""

from __future__ import annotations

import warnings
from typing import Any

__all__: list[str] = []

#: ember-only names that moved from ember.distributed to ember.handlers
_MOVED_TO_HANDLERS = frozenset({"EventSyncCheck", "EventsDivergedError"})


def _moved_name(module: str, name: str) -> Any:
    """The object ``name`` that moved from ``module`` to ``ember.handlers``, with a ``DeprecationWarning``."""
    if name not in _MOVED_TO_HANDLERS:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"{module}.{name} is deprecated since ember 0.2 and will be removed in 0.4; use ember.handlers.{name} "
        "(it is a handler, and ember.distributed is the layer below the engine and the handlers).",
        DeprecationWarning,
        stacklevel=3,
    )
    # The deprecated alias is the one import from the distributed layer upward; it goes in 0.4.
    from ember.handlers import event_sync

    return getattr(event_sync, name)


def __getattr__(name: str) -> Any:
    return _moved_name(__name__, name)
