"""Distributed training speed on CPU: samples/s for 1 vs 2 processes, and the engine's cost under DDP.

Run: ``python benchmarks/distributed.py`` (about a minute). It prints

1. training throughput (samples/s) of the same small MLP with ember's engine + ``auto_*`` on one
   process and on two gloo processes (same global batch), and
2. the time per iteration under DDP on two processes of ember's ``create_supervised_trainer``
   against a hand-written DDP loop over the same loader, alternated in the same processes; the
   ratio is the engine's overhead (the target is within 2 %).

Each process uses one thread, so two processes use two cores. On a shared or busy machine the
absolute numbers move; the ratios, measured side by side, move much less.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

import ember.distributed as idist
from ember.engine import create_supervised_trainer

SAMPLES, FEATURES, CLASSES = 4096, 64, 10


def build(global_batch: int) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(SAMPLES, FEATURES, generator=generator)
    targets = torch.randint(0, CLASSES, (SAMPLES,), generator=generator)
    dataset = torch.utils.data.TensorDataset(features, targets)
    network = torch.nn.Sequential(torch.nn.Linear(FEATURES, 256), torch.nn.ReLU(), torch.nn.Linear(256, CLASSES))
    model = idist.auto_model(network)
    optimizer = idist.auto_optim(torch.optim.SGD(model.parameters(), lr=0.01))
    loader = idist.auto_dataloader(dataset, batch_size=global_batch, shuffle=True)
    return model, optimizer, loader


def throughput(local_rank: int, global_batch: int, epochs: int) -> float:
    """Seconds for `epochs` epochs of engine training in this process (after one warm-up epoch)."""
    torch.set_num_threads(1)
    model, optimizer, loader = build(global_batch)
    trainer = create_supervised_trainer(model, optimizer, torch.nn.functional.cross_entropy)
    trainer.run(loader, max_epochs=1)
    idist.barrier()
    started = time.perf_counter()
    trainer.run(loader, max_epochs=1 + epochs)
    idist.barrier()
    return time.perf_counter() - started


def engine_against_loop(local_rank: int, global_batch: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per iteration of the engine and of a hand-written loop, alternated, on DDP."""
    torch.set_num_threads(1)
    model, optimizer, loader = build(global_batch)
    loss_fn = torch.nn.functional.cross_entropy
    trainer = create_supervised_trainer(model, optimizer, loss_fn)
    times: dict[str, list[float]] = {"engine": [], "loop": [], "engine_cpu": [], "loop_cpu": []}
    iterations = len(loader)

    def by_hand() -> None:
        model.train()
        for features, targets in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(features), targets)
            loss.backward()
            optimizer.step()
            loss.item()  # the engine's default output does the same

    epochs_run = 0
    for round_index in range(rounds):
        # alternate which goes first, so neither always follows the other's barrier
        for name in ("engine", "loop") if round_index % 2 == 0 else ("loop", "engine"):
            idist.barrier()
            started, started_cpu = time.perf_counter(), time.process_time()
            if name == "engine":
                epochs_run += 1
                trainer.run(loader, max_epochs=epochs_run)
            else:
                by_hand()
            cpu = time.process_time() - started_cpu
            idist.barrier()
            times[name].append((time.perf_counter() - started) / iterations)
            times[f"{name}_cpu"].append(cpu / iterations)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64, help="global batch size")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10, help="alternated engine/loop epochs for the overhead")
    arguments = parser.parse_args()

    single = throughput(0, arguments.batch, arguments.epochs)
    with idist.Parallel(backend="gloo", nproc_per_node=2, timeout=300) as parallel:
        double = max(parallel.run(throughput, arguments.batch, arguments.epochs))
    samples = SAMPLES * arguments.epochs
    print(f"throughput, global batch {arguments.batch}, {SAMPLES} samples x {arguments.epochs} epochs, 1 thread each:")
    print(f"  1 process : {samples / single:9.0f} samples/s")
    print(f"  2 processes (gloo DDP): {samples / double:9.0f} samples/s  ({single / double:.2f}x)")

    with idist.Parallel(backend="gloo", nproc_per_node=2, timeout=300) as parallel:
        measured = parallel.run(engine_against_loop, arguments.batch, arguments.rounds)
    print(f"per iteration under DDP on 2 processes ({arguments.rounds} alternated epochs per rank):")
    for label, suffix in (("wall", ""), ("CPU", "_cpu")):
        engine = statistics.median(t for rank in measured for t in rank["engine" + suffix])
        loop = statistics.median(t for rank in measured for t in rank["loop" + suffix])
        print(f"  median {label:4} hand-written DDP loop: {loop * 1e3:8.3f} ms")
        print(f"  median {label:4} ember engine         : {engine * 1e3:8.3f} ms  ({(engine / loop - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
