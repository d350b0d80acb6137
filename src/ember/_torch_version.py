"""The installed PyTorch's version, and a clear error for a feature that needs a newer one.

ember runs on every torch from the floor declared in ``pyproject.toml`` (``torch>=2.3``; the whole
suite runs on it with ``scripts/test_torch_floor.sh``) up to the version CI pins. A few features use
PyTorch APIs that appeared later; each calls :func:`require_torch` where it is wired (a function
call, a constructor), so an older torch fails there with the feature and the version it needs named,
instead of an ``ImportError`` or ``AttributeError`` from deep inside torch. The versions are listed in
``docs/versioning.md`` ("Supported PyTorch versions").
"""

from __future__ import annotations

import re

import torch

__all__ = ["FSDP2_TORCH", "SHARDED_CHECKPOINT_TORCH", "require_torch", "torch_version"]

#: FSDP2 (``shard_model``, ``auto_model(strategy="fsdp")``): ``torch.distributed.fsdp.fully_shard``,
#: ``FSDPModule`` and ``OffloadPolicy`` are public from torch 2.6 on, but on the CPU (gloo), where ember's
#: tests of FSDP2 run, 2.6 fails inside ``fully_shard`` (``torch.cpu.Stream`` has no ``record_event`` before
#: 2.7), and 2.7 and 2.8 train a 2-rank model to other values than one process (4% off after one epoch).
#: 2.9 is the first release the tests pass on (2.9.0 and 2.10.0 were run), so it is the one ember asks for.
FSDP2_TORCH = "2.9"
#: Sharded checkpoints (``ShardedSaver``, ``load_sharded_checkpoint``, ``dcp_to_torch_save``): torch 2.3's
#: DCP has no partial load (``DefaultLoadPlanner(allow_partial_load=...)``) and its ``async_save`` needs
#: a process group; from 2.4 on they work in one process and on several, on a plain or DDP model
#: (a model sharded with FSDP2 needs :data:`FSDP2_TORCH`).
SHARDED_CHECKPOINT_TORCH = "2.4"


def _parse(version: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise ValueError(f"Not a torch version: {version!r}. Pass 'MAJOR.MINOR', e.g. '2.6'.")
    return int(found.group(1)), int(found.group(2))


def torch_version() -> tuple[int, int]:
    """The installed torch's ``(major, minor)``: ``(2, 13)`` for ``2.13.0+cpu``, ``(2, 6)`` for ``2.6.0a0+git1``.

    >>> torch_version() >= (2, 3)
    True
    """
    return _parse(str(torch.__version__))


def require_torch(version: str, feature: str) -> None:
    """Raise ``RuntimeError`` naming ``feature`` and ``torch>=version`` if the installed torch is older.

    >>> require_torch("2.3", "Anything ember supports")
    >>> require_torch("99.0", "A feature of the future")
    Traceback (most recent call last):
    ...
    RuntimeError: A feature of the future needs torch>=99.0, ...
    """
    if torch_version() < _parse(version):
        raise RuntimeError(
            f"{feature} needs torch>={version}, but this is torch {torch.__version__}. Upgrade PyTorch "
            f"(pip install 'torch>={version}', the build for your machine from pytorch.org); the rest of ember "
            "runs on this torch."
        )
