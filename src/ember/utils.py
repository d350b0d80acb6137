"""Small helpers shared across ember, and pytorch-ignite's utility names.

- walking nested batches and outputs: :func:`apply_to_tensors`, :func:`iter_tensors` (ember's), and
  ignite's :func:`apply_to_type`, :func:`apply_to_tensor`, :func:`convert_tensor`;
- :func:`to_onehot`, :func:`manual_seed`, :func:`setup_logger` and :func:`hash_checkpoint`, as in ``ignite.utils``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from ember.random import manual_seed  # the one implementation; ignite's ember.utils.manual_seed path

__all__ = [
    "apply_to_tensor",
    "apply_to_tensors",
    "apply_to_type",
    "convert_tensor",
    "hash_checkpoint",
    "iter_tensors",
    "manual_seed",
    "setup_logger",
    "to_onehot",
]


def apply_to_tensors(value: Any, function: Callable[[torch.Tensor], Any]) -> Any:
    """Return ``value`` with ``function`` applied to every tensor in it.

    Walks tuples, lists, dicts (any mapping becomes a dict of the same keys) and namedtuples,
    rebuilding each container; anything else is returned unchanged. (ignite's stricter
    :func:`apply_to_tensor` refuses values other than tensors, strings and containers.)

    >>> apply_to_tensors({"x": torch.ones(2), "n": 3}, lambda t: t * 2)
    {'x': tensor([2., 2.]), 'n': 3}
    """
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(apply_to_tensors(item, function) for item in value))
    if isinstance(value, (tuple, list)):
        return type(value)(apply_to_tensors(item, function) for item in value)
    if isinstance(value, Mapping):
        return {key: apply_to_tensors(item, function) for key, item in value.items()}
    return value


def iter_tensors(value: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(path, tensor)`` for every tensor nested in ``value``; the path says where it is.

    >>> [path for path, _ in iter_tensors({"a": [torch.zeros(1), torch.ones(1)]})]
    ["['a'][0]", "['a'][1]"]
    """
    yield from _iter_tensors(value, "")


def _iter_tensors(value: Any, path: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _iter_tensors(item, f"{path}[{index}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _iter_tensors(item, f"{path}[{key!r}]")


# ---------------------------------------------------------------------------------------------- ignite's names


def apply_to_type(x: Any, input_type: type | tuple[type, ...], func: Callable[[Any], Any]) -> Any:
    """Apply ``func`` to every value of ``input_type`` nested in ``x``, rebuilding the containers around them.

    Containers are mappings (rebuilt with their own type, e.g. an ``OrderedDict`` stays one),
    namedtuples, and other sequences (lists, tuples). Strings and bytes are returned as they are.

    Raises:
        TypeError: ``x`` holds a value that is none of ``input_type``, a string or a container
            (e.g. an ``int`` when ``input_type`` is ``torch.Tensor``), as in pytorch-ignite.

    >>> apply_to_type([1, (2.0, 3)], (int, float), lambda v: v * 10)
    [10, (20.0, 30)]
    """
    if isinstance(x, input_type):
        return func(x)
    if isinstance(x, (str, bytes)):
        return x
    if isinstance(x, Mapping):
        return type(x)({key: apply_to_type(value, input_type, func) for key, value in x.items()})  # type: ignore[call-arg]
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return type(x)(*(apply_to_type(value, input_type, func) for value in x))
    if isinstance(x, Sequence):
        return type(x)([apply_to_type(value, input_type, func) for value in x])  # type: ignore[call-arg]
    expected = input_type.__name__ if isinstance(input_type, type) else [t.__name__ for t in input_type]
    raise TypeError(
        f"x must hold only values of type {expected}, strings, bytes, mappings and sequences of them, "
        f"but it holds a {type(x).__name__} ({x!r}). Convert or remove that value first."
    )


def apply_to_tensor(x: Any, func: Callable[[torch.Tensor], Any]) -> Any:
    """Apply ``func`` to every tensor nested in ``x`` (see :func:`apply_to_type`).

    >>> apply_to_tensor({"a": torch.ones(2), "b": [torch.zeros(1)]}, lambda t: t + 1)
    {'a': tensor([2., 2.]), 'b': [tensor([1.])]}
    """
    return apply_to_type(x, torch.Tensor, func)


def convert_tensor(x: Any, device: str | torch.device | None = None, non_blocking: bool = False) -> Any:
    """Move every tensor nested in ``x`` to ``device`` (``tensor.to(device, non_blocking=...)``).

    ``device=None`` returns the tensors as they are. Containers are rebuilt as in :func:`apply_to_type`,
    which also says which values are refused.

    >>> convert_tensor((torch.ones(1), {"y": torch.zeros(1)}), device="cpu")
    (tensor([1.]), {'y': tensor([0.])})
    """

    def move(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=device, non_blocking=non_blocking) if device is not None else tensor

    return apply_to_tensor(x, move)


def to_onehot(indices: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot encode ``indices`` of shape ``(N, ...)`` into a ``uint8`` tensor of shape ``(N, num_classes, ...)``.

    The result is on the device of ``indices``.

    Raises:
        TypeError: ``indices`` is not an integer tensor, or ``num_classes`` is not an integer.
        ValueError: ``num_classes < 1``, or ``indices`` has no batch dimension.

    >>> to_onehot(torch.tensor([0, 2]), num_classes=3)
    tensor([[1, 0, 0],
            [0, 0, 1]], dtype=torch.uint8)
    """
    if not isinstance(indices, torch.Tensor) or indices.is_floating_point() or indices.is_complex():
        raise TypeError(
            f"indices must be an integer tensor of class indices, got {type(indices).__name__}"
            f"{' of dtype ' + str(indices.dtype) if isinstance(indices, torch.Tensor) else ''}. "
            "Pass e.g. torch.tensor([0, 2, 1]) or y_pred.argmax(dim=1)."
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an integer, got {num_classes!r} ({type(num_classes).__name__}).")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    if indices.dim() == 0:
        raise ValueError(
            "indices must have a batch dimension, shape (N, ...), got a 0-dimensional tensor. "
            "Pass indices.reshape(1) for a single index."
        )
    # The indices' range is not checked here: that would wait for the device on every call. scatter_
    # refuses an index out of range itself.
    onehot = torch.zeros((indices.shape[0], num_classes, *indices.shape[1:]), dtype=torch.uint8, device=indices.device)
    return onehot.scatter_(1, indices.unsqueeze(1).long(), 1)


_LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def setup_logger(
    name: str | None = "ember",
    level: int = logging.INFO,
    stream: TextIO | None = None,
    format: str = _LOG_FORMAT,
    filepath: str | None = None,
    distributed_rank: int | None = None,
    reset: bool = False,
    encoding: str | None = "utf-8",
) -> logging.Logger:
    """Configure and return the logger ``name``: one stream handler (and a file handler) with ``format``.

    Made to show an engine's progress: ``trainer.logger = setup_logger("trainer")``.

    Args:
        name: the logger's name; ``None`` configures the root logger.
        level: the level of the logger and its handlers.
        stream: where to write; ``sys.stderr`` by default.
        format: a :mod:`logging` format string.
        filepath: also write to this file.
        distributed_rank: the process's rank; ``None`` asks :mod:`ember.distributed` (0 without a process
            group). Processes of rank > 0 get a logger that prints nothing, so a multi-process run logs once.
        reset: reconfigure a logger that already has handlers; without it, such a logger is returned
            as it is (so calling this twice does not print every line twice).
        encoding: the file's encoding, with ``filepath``.

    The logger does not propagate to the root logger, so its lines are not printed twice.

    >>> import io
    >>> buffer = io.StringIO()
    >>> logger = setup_logger("ember.doctest", stream=buffer, format="%(levelname)s %(message)s")
    >>> logger.info("epoch 1 done")
    >>> buffer.getvalue()
    'INFO epoch 1 done\\n'
    """
    logger = logging.getLogger(name)
    if logger.handlers and not reset:
        return logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    if distributed_rank is None:
        # torch.distributed directly (what ember.distributed.get_rank reads): utils is below distributed
        initialized = torch.distributed.is_available() and torch.distributed.is_initialized()
        distributed_rank = torch.distributed.get_rank() if initialized else 0
    if distributed_rank > 0:
        # Silent on purpose: the lines of rank 0 are the run's log.
        logger.setLevel(logging.CRITICAL + 1)
        logger.addHandler(logging.NullHandler())
        return logger
    logger.setLevel(level)
    formatter = logging.Formatter(format)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream if stream is not None else sys.stderr)]
    if filepath is not None:
        handlers.append(logging.FileHandler(filepath, encoding=encoding))
    for handler in handlers:
        handler.setLevel(level)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def hash_checkpoint(checkpoint_path: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> tuple[Path, str]:
    """Move a checkpoint to ``output_dir`` as ``<stem>-<first 8 hex digits of its SHA-256>.pt``, as ignite does.

    The name is the one :func:`torch.hub.load_state_dict_from_url` checks with ``check_hash=True``.

    Args:
        checkpoint_path: the checkpoint file (it is moved, not copied).
        output_dir: the folder to move it to (created if missing).

    Returns:
        The new path and the file's whole SHA-256 hex digest.

    Raises:
        FileNotFoundError: ``checkpoint_path`` is not a file.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.pt").write_bytes(b"weights")
    >>> path, digest = hash_checkpoint(folder / "model.pt", folder / "hub")
    >>> path.name, digest[:8]
    ('model-9a129038.pt', '9a129038')
    """
    source = Path(checkpoint_path)
    if not source.is_file():
        raise FileNotFoundError(
            f"hash_checkpoint found no file at {str(source)!r}. Pass the path of a saved checkpoint file."
        )
    digest = hashlib.sha256()
    with source.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    sha256 = digest.hexdigest()
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{source.stem}-{sha256[:8]}.pt"
    shutil.move(str(source), target)
    return target, sha256
