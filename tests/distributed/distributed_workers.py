"""Code run in each process of the 2-process distributed tests (importable, so spawned processes can load it)."""

from __future__ import annotations

from typing import Any

import torch

from ember import distributed


def collectives(local_rank: int, offset: int) -> dict[str, Any]:
    """Exercise every collective on a rank; rank r holds r + 1 rows (uneven shards)."""
    rows = torch.arange((local_rank + 1) * 2, dtype=torch.float32).reshape(local_rank + 1, 2) + 10 * local_rank
    value = torch.tensor([local_rank + offset, 10 - local_rank])
    reduced = {op: distributed.all_reduce(value, op=op).tolist() for op in ("sum", "product", "min", "max")}
    distributed.barrier()
    try:
        distributed.all_gather(torch.zeros(2, 2 + local_rank))
    except ValueError as error:
        mismatched = str(error)
    return {
        "mismatched_gather": mismatched,
        "rank": distributed.get_rank(),
        "world_size": distributed.get_world_size(),
        "local_rank": distributed.get_local_rank(),
        "is_distributed": distributed.is_distributed(),
        "backend": distributed.get_backend(),
        "reduced": reduced,
        "input_after": value.tolist(),
        "bool_max": distributed.all_reduce(torch.tensor([local_rank == 1]), op="max").tolist(),
        "gathered": distributed.all_gather(rows).tolist(),
        "gathered_scalar": distributed.all_gather(torch.tensor(local_rank * 3)).tolist(),
        "gathered_empty": distributed.all_gather(torch.zeros(local_rank, 2)).shape[0],
        "broadcast": distributed.broadcast_object({"from": local_rank, "items": [local_rank]}, src=1),
    }


def fails_on_rank_one(local_rank: int) -> None:
    if local_rank == 1:
        raise KeyError("rank one broke")
