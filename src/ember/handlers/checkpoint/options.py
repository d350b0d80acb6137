"""Checking :class:`~ember.handlers.Checkpoint`'s arguments when it is built, not at the first save.

Each check raises the right exception with what was wrong and how to fix it: a callable that cannot
take the arguments it will be called with, an option of the wrong type or value, a
``filename_pattern`` that cannot name a file in the saver's folder.
"""

from __future__ import annotations

import inspect
import string
import warnings
from typing import Any

__all__ = ["PATTERN_FIELDS", "check_options", "check_pattern", "check_signature"]

PATTERN_FIELDS = frozenset({"filename_prefix", "name", "score", "score_name", "global_step", "ext"})


def check_signature(function: Any, name: str, parameters: str, count: int) -> None:
    """``function`` is callable with ``count`` positional arguments (checked when it is given)."""
    if not callable(function):
        raise TypeError(f"{name} must be a function {parameters}, got {type(function).__name__}.")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return
    try:
        signature.bind(*([None] * count))
    except TypeError:
        raise TypeError(
            f"{name} must take {count} argument{'s' if count > 1 else ''} {parameters}, but its parameters are "
            f"{signature}. Define it as e.g. def {name}{parameters}: ..."
        ) from None


def check_options(
    n_saved: Any, score_name: Any, filename_prefix: Any, include_self: Any, greater_or_equal: Any
) -> None:
    """The plain options of :class:`Checkpoint` have the types and values it can use."""
    if n_saved is not None and (isinstance(n_saved, bool) or not isinstance(n_saved, int)):
        raise TypeError(f"n_saved must be a positive integer or None, got {n_saved!r} ({type(n_saved).__name__}).")
    if n_saved is not None and n_saved < 1:
        raise ValueError(f"n_saved must be >= 1 (or None to keep every checkpoint), got n_saved={n_saved}.")
    if score_name is not None and not isinstance(score_name, str):
        raise TypeError(f"score_name must be a string, got {type(score_name).__name__}.")
    if not isinstance(filename_prefix, str) or any(sep in filename_prefix for sep in "/\\"):
        raise ValueError(f"filename_prefix must be a string without path separators, got {filename_prefix!r}.")
    for name, flag in (("include_self", include_self), ("greater_or_equal", greater_or_equal)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r} ({type(flag).__name__}).")


def check_pattern(pattern: Any, scored: bool = False, step_transform: bool = False) -> None:
    """Refuse a pattern that cannot name a file in the folder; ``scored``/``step_transform``: which are given."""
    if not isinstance(pattern, str):
        raise TypeError(f"filename_pattern must be a string, got {type(pattern).__name__}.")
    example = "e.g. '{filename_prefix}_{name}_{global_step}.{ext}'"
    if not pattern:
        raise ValueError(f"filename_pattern is empty. Give a pattern that names a file, {example}.")
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as error:
        raise ValueError(
            f"filename_pattern {pattern!r} is not a valid str.format pattern ({error}). Give one like "
            f"{example[5:]}, with braces doubled ('{{{{', '}}}}') for literal braces."
        ) from None
    if any(sep in literal for literal, _, _, _ in parsed for sep in "/\\"):
        raise ValueError(
            f"filename_pattern {pattern!r} holds a path separator, but it names a file inside the save "
            f"handler's folder. Drop the separator ({example}), and pass the sub-folder as the save handler, "
            "e.g. DiskSaver('runs/best')."
        )
    fields = {field for _, field, _, _ in parsed if field is not None}
    unknown = sorted(fields - PATTERN_FIELDS)
    if unknown:
        raise ValueError(
            f"filename_pattern {pattern!r} uses the unknown fields {unknown}. It may use "
            f"{sorted(PATTERN_FIELDS)}, {example}."
        )
    # the values a save formats: the score is text (already rounded, as in ignite), the step an integer
    # (None with a score_function and no global_step_transform, as in ignite)
    step_is_none = scored and not step_transform
    sample = {
        "filename_prefix": "prefix",
        "name": "model",
        "global_step": None if step_is_none else 1,
        "score_name": "score",
        "score": "0.5000" if scored else None,
        "ext": "pt",
    }
    try:
        pattern.format(**sample)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(
            f"filename_pattern {pattern!r} cannot be formatted ({error}). A save fills {{score}} with text "
            "(the score already rounded, e.g. '0.8123', or None without a score_function) and {global_step} "
            "with an integer (None with a score_function and no global_step_transform), so only a spec that "
            "fits such a value works, e.g. '{global_step:04d}'; drop the format spec, as in '{name}_{score}.{ext}'."
        ) from None
    if step_is_none and "global_step" in fields:
        warnings.warn(
            f"filename_pattern {pattern!r} has {{global_step}}, but with a score_function and no "
            "global_step_transform the global step is None (as in ignite): every file name holds 'None'. Pass "
            "global_step_transform=global_step_from_engine(trainer) to put the step in the name.",
            UserWarning,
            stacklevel=4,
        )
    if "global_step" not in fields and "score" not in fields:
        warnings.warn(
            f"filename_pattern {pattern!r} has neither {{global_step}} nor {{score}}: every save writes the "
            "same file name, which replaces the previous checkpoint.",
            UserWarning,
            stacklevel=4,
        )
