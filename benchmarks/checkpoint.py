"""Checkpoint costs: how long a save blocks the training loop, and how resume time depends on the position.

1. Blocking: a model of about 100 MB (one 5000 x 5000 linear layer, float32) trains for a number
   of iterations with a checkpoint every ``--every`` iterations, written by a synchronous
   :class:`~ember.handlers.DiskSaver` and by an asynchronous one. Printed per save: the time the
   handler call held the loop, and how much of it was spent waiting for the previous write (an
   asynchronous saver keeps at most one write in flight), beside one iteration's time.
2. Resume: a 10,000-batch epoch over a :class:`~ember.data.ResumableLoader` (shuffle=True) is
   resumed at its first batch and at its last; printed is the time from ``run()`` to the first
   resumed batch, and, for comparison, the same with a plain DataLoader, which the engine has to
   fast-forward by fetching and discarding batches.

Under 1, the newest synchronous file is also read back: the time verify_checkpoint takes to check it
(SHA-256 of every byte) beside the time torch.load takes to read it, so the price of the integrity
check shows as a ratio.

    python benchmarks/checkpoint.py [--iterations N] [--every K] [--folder DIR]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ember import Engine, Events
from ember.data import ResumableLoader
from ember.handlers import Checkpoint, DiskSaver, find_latest_checkpoint, verify_checkpoint


def training_run(
    folder: Path | None, asynchronous: bool, iterations: int, every: int
) -> tuple[float, list[float], list[float]]:
    """Wall time of the run; per save, the time the loop was held, and the part of it spent waiting
    for the previous (asynchronous) write to finish."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5000, 5000)
    inputs = torch.randn(64, 5000)

    def step(engine: Engine, batch: Any) -> None:
        with torch.no_grad():
            model.weight.add_(model(inputs).mean() * 1e-9)  # touches every weight, like an optimizer step

    trainer = Engine(step)
    held: list[float] = []
    waited: list[float] = []
    if folder is not None:
        checkpoint = Checkpoint({"model": model}, DiskSaver(folder, asynchronous=asynchronous), n_saved=2)

        def timed_save(engine: Engine) -> None:
            start = time.perf_counter()
            checkpoint.wait()  # what the save itself would wait for first; timed apart
            ready = time.perf_counter()
            checkpoint(engine)
            held.append(time.perf_counter() - start)
            waited.append(ready - start)

        trainer.add_event_handler(Events.ITERATION_COMPLETED(every=every), timed_save)
    start = time.perf_counter()
    trainer.run(epoch_length=iterations, max_epochs=1)  # returns only once the last save is durable
    return time.perf_counter() - start, held, waited


def timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def time_to_first_batch(data: Iterable[Any], position: int, epoch_length: int) -> float:
    trainer = Engine(lambda engine, batch: None)
    trainer.load_state_dict(
        {
            "iteration": position,
            "epoch": 1,
            "epoch_length": epoch_length,
            "max_epochs": 1,
            "max_iters": None,
            "epoch_completed": False,
        }
    )
    arrived: list[float] = []
    trainer.add_event_handler(
        Events.ITERATION_STARTED, lambda engine: (arrived.append(time.perf_counter()), engine.terminate())
    )
    start = time.perf_counter()
    trainer.run(data)
    return arrived[0] - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=80)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--folder", default=None, help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the engine's fast-forward notice would interleave with the table

    size_mb = 5000 * 5001 * 4 / 1e6
    print(f"1. Save blocking, model of {size_mb:.0f} MB, {args.iterations} iterations, a save every {args.every}:")
    with tempfile.TemporaryDirectory(dir=args.folder) as root:
        training_run(None, False, args.every, args.every)  # warm-up: allocator, thread pool, page cache
        bare = min(training_run(None, False, args.iterations, args.every)[0] for _ in range(2))
        print(f"   (one training iteration takes {bare / args.iterations * 1e3:.1f} ms without saves)")
        for label, asynchronous in (("synchronous", False), ("asynchronous", True)):
            _, held, waited = training_run(Path(root) / label, asynchronous, args.iterations, args.every)
            print(
                f"   {label:>12}: loop held {statistics.median(held) * 1e3:7.1f} ms per save (median of {len(held)}; "
                f"min {min(held) * 1e3:.1f}, max {max(held) * 1e3:.1f}), of which waiting for the previous write "
                f"{statistics.median(waited) * 1e3:.1f} ms (median)"
            )
        latest = find_latest_checkpoint(Path(root) / "synchronous")
        assert latest is not None
        verify = min(timed(lambda: verify_checkpoint(latest)) for _ in range(3))
        load = min(timed(lambda: torch.load(latest)) for _ in range(3))
        print(
            f"   reading the newest file back: verify_checkpoint {verify * 1e3:.1f} ms, torch.load "
            f"{load * 1e3:.1f} ms (verify / load = {verify / load:.2f}; best of 3, from the page cache)"
        )

    epoch_length = 10_000
    print(f"2. Resume within a {epoch_length:,}-batch epoch (time from run() to the first resumed batch):")
    dataset = torch.utils.data.TensorDataset(torch.randn(epoch_length * 8, 32))
    loaders: dict[str, Iterable[Any]] = {
        "ResumableLoader": ResumableLoader(dataset, batch_size=8, shuffle=True, seed=0),
        "plain DataLoader": torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True),
    }
    resumable = loaders["ResumableLoader"]
    assert isinstance(resumable, ResumableLoader)
    resumable.load_state_dict({"passes_started": 1, "seed": 0})
    for label, data in loaders.items():
        first = min(time_to_first_batch(data, 1, epoch_length) for _ in range(3))
        last = min(time_to_first_batch(data, epoch_length - 1, epoch_length) for _ in range(3))
        print(
            f"   {label:>16}: at batch 1 {first * 1e3:8.2f} ms, at batch {epoch_length - 1:,} {last * 1e3:8.2f} ms "
            f"(ratio {last / first:5.2f})"
        )


if __name__ == "__main__":
    main()
