"""One rank decides, every rank follows: :func:`decide_on_rank`.

Picking the checkpoint to resume from, writing a file that only one rank writes, listing a folder:
work that one rank does and whose result every rank needs. Written by hand, such code has two ways to
hang a job: the deciding rank raises before it reaches the broadcast (the others wait in it until the
process group's timeout), or its result cannot be pickled. :func:`decide_on_rank` always reaches the
broadcast, and turns the deciding rank's error into the same error on every rank.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import torch.distributed as dist

from ember.distributed.collectives import broadcast_object
from ember.distributed.process import get_rank, get_world_size, is_distributed

__all__ = ["decide_on_rank"]

ResultT = TypeVar("ResultT")


class _Failure(NamedTuple):
    """What the deciding rank raised, as the other ranks receive it."""

    rank: int
    type_name: str
    message: str
    error: BaseException | None  # the exception itself, when it survives pickling


def _failure(rank: int, error: BaseException) -> _Failure:
    sendable: BaseException | None = error
    try:
        pickle.loads(pickle.dumps(error))  # the receivers unpickle it: it must survive the round trip
    except Exception:  # e.g. an unpicklable attribute, or a constructor that its args cannot call
        sendable = None
    return _Failure(rank, type(error).__name__, str(error), sendable)


def _rebuilt(failure: _Failure) -> BaseException:
    """The deciding rank's error, of the same type where it can be rebuilt, its message naming the rank."""
    message = f"On rank {failure.rank}: {failure.message}"
    original = failure.error
    if isinstance(original, Exception):
        try:
            rebuilt = type(original)(message)
        except Exception:  # a constructor wanting other arguments: fall back to a RuntimeError below
            rebuilt = None
        if type(rebuilt) is type(original) and isinstance(rebuilt, Exception):
            return rebuilt
    return RuntimeError(f"On rank {failure.rank}: {failure.type_name}: {failure.message}")


def _broadcast(payload: bytes, rank: int, group: Any) -> bytes:
    if group is None:
        return broadcast_object(payload, src=rank)
    holder: list[Any] = [payload]
    dist.broadcast_object_list(holder, src=rank, group=group)
    received: bytes = holder[0]
    return received


def decide_on_rank(decide: Callable[[], ResultT], rank: int = 0, *, group: Any = None) -> ResultT:
    """Call ``decide()`` on rank ``rank`` only; return its result on every rank, or raise its error on every rank.

    Every rank of the job (of ``group``) must call it, as any collective. On the deciding rank, an
    error of ``decide`` is raised unchanged once the other ranks have been told; they raise an error
    of the same type (a ``RuntimeError`` when that type cannot be rebuilt from a message) whose
    message starts with ``On rank <rank>:``. So no rank is left waiting in a broadcast that the
    deciding rank never reached. A result that cannot be pickled is such an error too (a
    ``TypeError``). With one process, ``decide()`` is simply called.

    Args:
        decide: a function of no arguments; its result must be picklable.
        rank: the rank that calls ``decide`` (a global rank, also with ``group``).
        group: a process group of torch.distributed to communicate on (e.g. a background thread's
            own); the default group by default.

    >>> decide_on_rank(lambda: {"latest": "checkpoint_8.pt"})
    {'latest': 'checkpoint_8.pt'}
    >>> decide_on_rank(lambda: 1 / 0)
    Traceback (most recent call last):
    ...
    ZeroDivisionError: division by zero
    """
    if not callable(decide):
        raise TypeError(f"decide must be a function of no arguments, got {type(decide).__name__}.")
    world_size = get_world_size()
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(
            f"decide_on_rank got rank={rank!r}, but this job's ranks are 0 to {world_size - 1}. Pass the rank "
            "that should decide."
        )
    if world_size == 1 or not is_distributed():
        return decide()
    failure: BaseException | None = None
    payload = b""
    if get_rank() == rank:
        try:
            outcome: tuple[bool, Any] = (True, decide())
        except BaseException as error:  # every rank must reach the broadcast, or the others would hang in it
            failure = error
            outcome = (False, _failure(rank, error))
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            failure = TypeError(
                f"decide_on_rank: the result of {getattr(decide, '__qualname__', decide)!r} on rank {rank} cannot be "
                f"sent to the other ranks ({type(error).__name__}: {error}). Return picklable values (numbers, "
                "strings, tensors, containers of them)."
            )
            payload = pickle.dumps((False, _failure(rank, failure)), protocol=pickle.HIGHEST_PROTOCOL)
    payload = _broadcast(payload, rank, group)
    if failure is not None:
        raise failure
    succeeded, value = pickle.loads(payload)
    if succeeded:
        result: ResultT = value
        return result
    raise _rebuilt(value)
