"""Checks shared by the handlers when they are wired: the engine, "attached once", user callables.

Every handler refuses misuse when it is constructed or attached, not when an event fires; these
helpers keep the wording of those errors the same everywhere.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from ember.engine import Engine

__all__ = ["check_attach", "check_callable", "is_attached"]


def is_attached(reference: weakref.ref[Engine] | None) -> bool:
    """Whether a handler that remembers its engine through ``reference`` is still attached to a live engine."""
    return reference is not None and reference() is not None


def check_attach(
    owner: str, engine: Any, *, already: bool = False, where: str = "this engine", consequence: str = "", fix: str = ""
) -> Engine:
    """Refuse an ``attach`` to something that is not an Engine, or a second attachment; return the engine.

    Args:
        owner: the handler's class name, as the user wrote it (``"EarlyStopping"``).
        engine: what ``attach`` was given.
        already: whether the handler is already attached where this attachment would put it
            (the caller knows how: ``engine.has_event_handler(...)`` or a remembered engine).
        where: what it is attached to, for the message: ``"this engine"`` for a handler that
            may watch several engines once each, ``"an engine"`` for one that serves one engine.
        consequence: what a second attachment would do wrong, as a sentence fragment
            (``"count each evaluation twice"``).
        fix: what to do instead, as a whole sentence; a default is given.

    Raises:
        TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
        RuntimeError: ``already`` is True.
    """
    if not isinstance(engine, Engine):
        raise TypeError(
            f"{owner}.attach expects an ember Engine, got {engine!r} ({type(engine).__name__}). "
            "Pass the engine (trainer or evaluator) whose events should drive it."
        )
    if already:
        because = f"; a second attachment would {consequence}" if consequence else ""
        raise RuntimeError(
            f"This {owner} is already attached to {where}{because}. "
            + (fix or f"Attach it once, and create another {owner} for another engine.")
        )
    return engine


def check_callable(function: Any, name: str, call: str, example: str, arguments: int = 1) -> None:
    """Refuse a user callable that is not callable or cannot take ``arguments`` positional arguments.

    Args:
        function: what the user passed.
        name: the parameter's name (``"score_function"``).
        call: how it will be called, e.g. ``"score_function(engine)"``.
        example: a working value, e.g. ``"lambda engine: engine.state.metrics['accuracy']"``.
        arguments: how many positional arguments it receives.

    Raises:
        TypeError: ``function`` is not callable, or its signature cannot bind ``arguments`` values.
    """
    if not callable(function):
        raise TypeError(
            f"{name} must be a callable, got {function!r} ({type(function).__name__}). It is called as {call}; "
            f"pass e.g. {example}."
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: it will tell when called
        return
    try:
        signature.bind(*([None] * arguments))
    except TypeError:
        raise TypeError(
            f"{name} has parameters {signature} but will be called as {call}. Give it exactly that many positional "
            f"parameters, e.g. {example}."
        ) from None
