"""Checks run when a metric, logger or log handler is built: callables that cannot take their call, misspelt keywords.

A callable given to a constructor (an ``output_transform``, a ``reduction``) is checked against the
call it will get, so a wrong one fails where it is passed instead of at the first event; a keyword a
constructor does not have is refused with the closest parameter name it has.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["check_callable", "keywords_checked"]

_InitT = TypeVar("_InitT", bound=Callable[..., Any])
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _label(function: Any) -> str:
    return str(getattr(function, "__name__", None) or type(function).__name__)


def check_callable(function: Any, owner: str, name: str, call: str, count: int) -> None:
    """Refuse ``function`` unless it can be called with ``count`` positional arguments, as ``call`` shows.

    ``owner`` and ``name`` say whose argument it is (``"Accuracy"``, ``"output_transform"``); ``call``
    is the call it will get, e.g. ``"output_transform(output)"``. A callable whose signature
    cannot be read (some builtins) is accepted.

    >>> check_callable(lambda output: output, "Accuracy", "output_transform", "output_transform(output)", 1)
    >>> try:
    ...     check_callable(lambda a, b: a, "Accuracy", "output_transform", "output_transform(output)", 1)
    ... except TypeError as error:
    ...     print(str(error)[:80])
    Accuracy output_transform <lambda> cannot be called as output_transform(output):
    """
    if not callable(function):
        raise TypeError(f"{owner} {name} must be callable as {call}, got {function!r} ({type(function).__name__}).")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a readable signature: it will tell when called
        return
    try:
        signature.bind(*([None] * count))
    except TypeError:
        wanted = {1: "one parameter", 2: "two parameters"}.get(count, f"{count} parameters")
        raise TypeError(
            f"{owner} {name} {_label(function)} cannot be called as {call}: its parameters are {signature}. "
            f"Give it {wanted} (more only with defaults)."
        ) from None


def unknown_keyword_error(owner: str, unknown: str, names: list[str]) -> TypeError:
    """The error for a keyword ``owner`` does not take, naming the closest of ``names``."""
    close = difflib.get_close_matches(unknown, names, n=1, cutoff=0.6)
    hint = f"Did you mean {close[0]}=...?" if close else "Check the spelling."
    return TypeError(
        f"{owner} got an unexpected keyword argument {unknown!r}. {hint} Its parameters are: {', '.join(names)}."
    )


def keywords_checked(init: _InitT) -> _InitT:
    """Wrap a constructor: a keyword it does not take names the closest one it does (``patient`` -> ``patience``).

    A constructor that takes ``**kwargs`` is returned unchanged: it checks its own keywords.
    """
    if getattr(init, "_keywords_checked", False):
        return init
    try:
        parameters = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return init
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return init
    names = [name for name, parameter in parameters.items() if parameter.kind in _NAMED and name != "self"]
    accepted = frozenset(names)

    @functools.wraps(init)
    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        for keyword in kwargs:
            if keyword not in accepted:
                raise unknown_keyword_error(type(self).__name__, keyword, names)
        return init(self, *args, **kwargs)

    checked._keywords_checked = True  # type: ignore[attr-defined]
    return checked  # type: ignore[return-value]
