"""Lazy imports of the optional packages some metrics compute with, failing with the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, needed_by: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming the ember extra that installs it.

    Args:
        module: the module to import, e.g. ``"sklearn.metrics"``.
        needed_by: who needs it, for the message (e.g. ``"ROC_AUC"``).
        extra: the ember extra that installs it (``pip install 'ember[<extra>]'``).
        package: the name to ``pip install`` when it differs from the module's top-level name.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        distribution = package or module.split(".")[0]
        raise ModuleNotFoundError(
            f"{needed_by} needs the package {distribution!r}, which is not installed ({error}). Install it with "
            f"pip install 'ember[{extra}]' (or pip install {distribution})."
        ) from error
