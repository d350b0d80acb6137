"""Reading an engine's saved position: ember's own state dict, or pytorch-ignite's smaller one.

:func:`parse_state_dict` checks a dict and says what it means (a :class:`SavedPosition`), without
side effects; the engine then applies it. Keeping the two apart keeps :meth:`Engine.load_state_dict`
short and lets every rule about the format be read in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SavedPosition", "check_positive", "parse_state_dict"]


@dataclass(frozen=True)
class SavedPosition:
    """What a saved engine state says: the counters, the limits, and what the run does next.

    ``native`` is true for ember's own format (both ``iteration`` and ``epoch``), which resumes
    exactly; pytorch-ignite's (one of them) resumes as ignite does. ``next_step`` is ``"epoch"``
    (start the next epoch), ``"iteration_end"`` (an iteration has ended: end the epoch if it was its
    last, else fire ``GET_BATCH_STARTED`` and fetch the next batch), ``"fetch"`` (fetch the next
    batch; its ``GET_BATCH_STARTED`` had fired), ``"count"`` (the batch had been fetched: fetch it
    again without events, then count the iteration) or ``"process"`` (the iteration had been counted
    too: fetch its batch again and process it). ``iter_counter`` is the number of iterations of the
    current epoch already run (``None`` in pytorch-ignite's format: ``iteration % epoch_length``);
    ``data_position`` the number of batches of the current pass taken before the next (or
    refetched) one (``None``: not saved, derived from the data's length). ``absent_user_keys``:
    user keys that pytorch-ignite's dict lacks (the engine keeps its values of them, and warns).

    >>> parse_state_dict({"iteration": 5, "epoch_length": 4, "max_epochs": 2}, []).epoch
    1
    """

    iteration: int
    epoch: int
    epoch_length: int | None
    max_epochs: int | None
    max_iters: int | None
    native: bool
    terminated: bool = False
    next_step: str = "epoch"
    iter_counter: int | None = None
    data_position: int | None = None
    user_values: dict[str, Any] = field(default_factory=dict)
    absent_user_keys: tuple[str, ...] = ()


def check_positive(name: str, value: Any, invalid: str = "") -> None:
    """Raise TypeError or ValueError unless ``value`` is None or a positive integer; ``invalid`` ends the message."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer, got {name}={value!r} ({type(value).__name__}).{invalid}")
    if value < 1:
        hint = " Pass max_epochs >= 1, or pass max_iters instead." if name == "max_epochs" else f" Pass {name} >= 1."
        raise ValueError(f"{name} must be a positive integer, got {name}={value}.{invalid or hint}")


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"state_dict[{name!r}] must be an integer, got {value!r}.")
    if value < 0:
        raise ValueError(f"state_dict[{name!r}] must be >= 0, got {value}.")
    return value


def _check_keys(state_dict: Mapping[str, Any], user_keys: list[str], ignite_format: bool) -> None:
    has_iteration, has_epoch = "iteration" in state_dict, "epoch" in state_dict
    missing = [key for key in ("epoch_length", *([] if ignite_format else user_keys)) if key not in state_dict]
    if not (has_iteration or has_epoch):
        missing.insert(0, "iteration or epoch")
    if not ("max_epochs" in state_dict or "max_iters" in state_dict):
        missing.append("max_epochs or max_iters")
    if missing:
        raise ValueError(
            f"The state dict misses {missing} (it has {sorted(map(str, state_dict))}). "
            "Pass a dict saved by Engine.state_dict() (or pytorch-ignite's) with the same state_dict_user_keys."
        )


def parse_state_dict(state_dict: Any, user_keys: list[str]) -> SavedPosition:
    """Check ``state_dict`` and return what it says; raise ``TypeError``/``ValueError`` naming what is wrong.

    ``user_keys`` are the engine's ``state_dict_user_keys``: ember's format must have them all;
    pytorch-ignite's may lack some (an ignite trainer's checkpoint), listed in ``absent_user_keys``.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"load_state_dict expects a mapping, got {type(state_dict).__name__}.")
    has_iteration, has_epoch = "iteration" in state_dict, "epoch" in state_dict
    ignite_format = has_iteration != has_epoch
    _check_keys(state_dict, user_keys, ignite_format)
    epoch_length = state_dict["epoch_length"]
    max_epochs, max_iters = state_dict.get("max_epochs"), state_dict.get("max_iters")
    for name, value in (("epoch_length", epoch_length), ("max_epochs", max_epochs), ("max_iters", max_iters)):
        check_positive(f"state_dict[{name!r}]", value, " The state dict is invalid.")
    for name in ("iteration", "epoch"):
        _count(name, state_dict.get(name, 0))
    if max_epochs is not None and max_iters is not None:
        raise ValueError(
            f"The state dict sets both max_epochs={max_epochs} and max_iters={max_iters}; a run is limited "
            "by one of them. Remove one of the two keys (or set it to None)."
        )
    values = {key: state_dict[key] for key in user_keys if key in state_dict}
    if ignite_format:
        absent = tuple(key for key in user_keys if key not in state_dict)
        return _parse_ignite(state_dict, epoch_length, max_epochs, max_iters, values, absent)
    return _parse_native(state_dict, epoch_length, max_epochs, max_iters, values)


def _parse_ignite(
    state_dict: Mapping[str, Any],
    epoch_length: int | None,
    max_epochs: int | None,
    max_iters: int | None,
    values: dict[str, Any],
    absent_user_keys: tuple[str, ...],
) -> SavedPosition:
    """pytorch-ignite's dict: one counter; ``epoch`` is the number of completed epochs."""
    counter = state_dict.get("iteration", state_dict.get("epoch"))
    if counter and epoch_length is None:
        raise ValueError(
            "The state dict has one counter and no epoch_length, so the other counter cannot be derived. "
            "Add epoch_length (or both iteration and epoch) to the state dict."
        )
    if not counter or epoch_length is None:
        iteration = epoch = 0
    elif "iteration" in state_dict:
        iteration, epoch = counter, counter // epoch_length
    else:
        iteration, epoch = counter * epoch_length, counter
    if max_epochs is not None and max_epochs < epoch:
        raise ValueError(
            f"The state dict's max_epochs={max_epochs} is smaller than its epoch={epoch}. "
            "Pass a dict whose max_epochs is at least its epoch."
        )
    if max_iters is not None and max_iters < iteration:
        raise ValueError(
            f"The state dict's max_iters={max_iters} is smaller than its iteration={iteration}. "
            "Pass a dict whose max_iters is at least its iteration."
        )
    return SavedPosition(
        iteration,
        epoch,
        epoch_length,
        max_epochs,
        max_iters,
        native=False,
        user_values=values,
        absent_user_keys=absent_user_keys,
    )


# ``iteration_step`` (the last event of the iteration under way) -> what the resumed run does next
_STEP_AFTER = {
    None: "iteration_end",  # an iteration ended (maybe the epoch's last: a checkpoint at ITERATION_COMPLETED)
    "get_batch_started": "fetch",  # fetch the batch, without a second GET_BATCH_STARTED
    "get_batch_completed": "count",  # fetch the batch again, silently; ITERATION_STARTED and on
    "iteration_started": "process",  # fetch the batch again, silently; the process function and on
}


def _next_step(iteration_step: Any, get_batch_started: bool) -> str:
    """What a run resumed within an epoch does first; a dict without ``iteration_step`` is an older ember's."""
    if iteration_step is None and get_batch_started:
        return "fetch"
    if not isinstance(iteration_step, (str, type(None))) or iteration_step not in _STEP_AFTER:
        raise ValueError(
            f"state_dict['iteration_step'] must be None or one of {sorted(k for k in _STEP_AFTER if k)}, got "
            f"{iteration_step!r}. Pass the dict state_dict() saved, unedited."
        )
    return _STEP_AFTER[iteration_step]


def _parse_native(
    state_dict: Mapping[str, Any],
    epoch_length: int | None,
    max_epochs: int | None,
    max_iters: int | None,
    values: dict[str, Any],
) -> SavedPosition:
    """ember's own dict: both counters and where in the epoch and the data the run stood."""
    iteration, epoch = state_dict["iteration"], state_dict["epoch"]
    consistent = epoch > 0 or iteration == 0
    if epoch_length is not None and epoch > 0:
        consistent = iteration <= epoch * epoch_length
    if not consistent:
        raise ValueError(
            f"The state dict is inconsistent: iteration={iteration} cannot be reached in epoch={epoch} "
            f"with epoch_length={epoch_length}."
        )
    default_completed = epoch_length is None or iteration == epoch * epoch_length
    flags = {
        name: state_dict.get(name, default)
        for name, default in (
            ("epoch_completed", default_completed),
            ("terminated", False),
            ("get_batch_started", False),
        )
    }
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise TypeError(f"state_dict[{name!r}] must be a bool, got {flag!r}.")
    position, epoch_start = state_dict.get("data_position"), state_dict.get("epoch_start_iteration")
    for name, value in (("data_position", position), ("epoch_start_iteration", epoch_start)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"state_dict[{name!r}] must be an integer >= 0, got {value!r}.")
    terminated = flags["terminated"]
    in_epoch = epoch > 0 and not flags["epoch_completed"] and not terminated
    if epoch_start is None:
        epoch_start = (epoch - 1) * epoch_length if epoch_length and epoch else 0
    elif in_epoch and not (
        epoch_start <= iteration and (epoch_length is None or iteration - epoch_start <= epoch_length)
    ):
        raise ValueError(
            f"The state dict is inconsistent: epoch_start_iteration={epoch_start} does not fit iteration={iteration} "
            f"within an epoch of epoch_length={epoch_length}. Pass the dict state_dict() saved, unedited."
        )
    return SavedPosition(
        iteration,
        epoch,
        epoch_length,
        max_epochs,
        max_iters,
        native=True,
        terminated=terminated,
        next_step=_next_step(state_dict.get("iteration_step"), flags["get_batch_started"]) if in_epoch else "epoch",
        iter_counter=iteration - epoch_start if in_epoch else 0,
        data_position=0 if terminated else position,
        user_values=values,
    )
