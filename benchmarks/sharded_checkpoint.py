"""Large models on 2 CPU ranks (gloo): what a sharded save costs the loop, and what sharding saves in memory.

A stack of ``--layers`` Linear(``--width``, ``--width``) layers (8 x 2048 x 2048 float32 = 134 MB of
weights by default; with AdamW's two moments and the gradients about 540 MB of training state)
trains with AdamW on 2 spawned processes, once replicated (DistributedDataParallel) and once sharded
(``auto_model(strategy="fsdp")``). Printed, side by side:

1. Peak memory per rank: the process's peak resident memory (``ru_maxrss``) minus its resident
   memory before the model was built, after ``--steps`` training steps (blocks of 1 MB and more are
   mapped and unmapped one by one, so freed buffers do not linger in the C allocator's heap).
2. Sharded saves (FSDP run): the time a :class:`~ember.handlers.sharded_checkpoint.ShardedSaver`
   call holds the loop, synchronous vs ``async_save=True`` (the state is staged in memory, then
   written by a background thread), median of ``--saves`` saves with training steps in between,
   and for the asynchronous one, the time until the checkpoint is complete on disk.

    python benchmarks/sharded_checkpoint.py [--width 2048] [--layers 8] [--steps 3] [--saves 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from typing import Any

import torch
from torch import nn

from ember import distributed
from ember.distributed.auto import auto_model
from ember.handlers.sharded_checkpoint import ShardedSaver


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _local(parameter: torch.Tensor) -> torch.Tensor:
    """The part of a parameter this rank holds: its shard when sharded (a DTensor), else all of it."""
    to_local = getattr(parameter, "to_local", None)
    return to_local() if callable(to_local) else parameter


def run(local_rank: int, strategy: str, width: int, layers: int, steps: int, saves: int, folder: str) -> dict[str, Any]:
    before = resident_mb()
    torch.manual_seed(0)
    model = auto_model(nn.Sequential(*(nn.Linear(width, width) for _ in range(layers))), strategy=strategy)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randn(8, width)

    def step() -> float:
        started = time.perf_counter()
        optimizer.zero_grad()
        model(batch).square().mean().backward()
        optimizer.step()
        return time.perf_counter() - started

    step_times = [step() for _ in range(steps)]
    result: dict[str, Any] = {
        "peak_mb": peak_mb() - before,
        "step_s": statistics.median(step_times),
        "weights_mb": sum(local.numel() * local.element_size() for local in map(_local, model.parameters())) / 2**20,
    }
    if strategy != "fsdp":
        return result
    for async_save in (False, True):
        saver = ShardedSaver(os.path.join(folder, f"async{async_save}"), async_save=async_save)
        blocked, complete = [], []
        for index in range(saves):
            distributed.barrier()
            started = time.perf_counter()
            saver({"model": model, "optimizer": optimizer}, f"checkpoint_{index}.pt")
            blocked.append(time.perf_counter() - started)
            step()  # training goes on while an asynchronous save is written
            saver.wait()
            complete.append(time.perf_counter() - started)
        result[f"blocked_async{async_save}"] = statistics.median(blocked)
        result[f"complete_async{async_save}"] = statistics.median(complete)
    return result


def main() -> None:
    # Large blocks go straight to mmap and back to the system when freed, so the resident memory measures the
    # tensors alive, not what glibc's heap keeps after the collectives' temporary buffers (set before the spawn:
    # the ranks inherit it).
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 20))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--saves", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        found = {}
        for strategy in ("ddp", "fsdp"):
            arguments = (strategy, options.width, options.layers, options.steps, options.saves, folder)
            found[strategy] = distributed.spawn(run, nprocs=2, args=arguments, timeout=600)
    ddp, fsdp = found["ddp"], found["fsdp"]
    print(f"model: {options.layers} x Linear({options.width}, {options.width}), AdamW, 2 gloo ranks on CPU")
    print(f"{'':34}{'DDP':>12}{'FSDP':>12}")
    for rank in range(2):
        print(
            f"{f'weights held by rank {rank} (MB)':34}{ddp[rank]['weights_mb']:12.0f}{fsdp[rank]['weights_mb']:12.0f}"
        )
        print(f"{f'peak memory of rank {rank} (MB)':34}{ddp[rank]['peak_mb']:12.0f}{fsdp[rank]['peak_mb']:12.0f}")
    print(f"{'training step, rank 0 (s)':34}{ddp[0]['step_s']:12.3f}{fsdp[0]['step_s']:12.3f}")
    print()
    print(f"sharded save of the FSDP model + AdamW state, median of {options.saves}, rank 0:")
    sync_blocked, async_blocked = fsdp[0]["blocked_asyncFalse"], fsdp[0]["blocked_asyncTrue"]
    print(f"  loop blocked by a synchronous save   {sync_blocked:8.3f} s")
    print(f"  loop blocked by an asynchronous save {async_blocked:8.3f} s  ({sync_blocked / async_blocked:.1f}x less)")
    print(f"  asynchronous save complete on disk   {fsdp[0]['complete_asyncTrue']:8.3f} s after the call")


if __name__ == "__main__":
    main()
