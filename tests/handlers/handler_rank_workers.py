"""Two-process gloo runs of the rank-aware handlers, started as a script so a test can bound them with a timeout.

``python handler_rank_workers.py FOLDER`` spawns 2 processes with ``ember.distributed.spawn`` (start method
spawn, 127.0.0.1), runs every scenario below on each, and prints their results (one dict per rank) as one
JSON line. One group for all scenarios keeps the multi-process tests few and short.

In every scenario the process function runs a collective each iteration, as DDP training does: a
rank that stopped alone would leave the other blocked there, and the run would time out.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.handlers import EarlyStopping, ProgressBar, TerminateOnNan, ThroughputMonitor, TimeLimit


def synced_step(engine: Engine, batch: Any) -> Any:
    distributed.all_reduce(torch.ones(1))
    return batch


def early_stopping() -> list[dict[str, Any]]:
    """Two trainings; in each only one rank's score stops improving, the other's improves every epoch."""
    results = []
    for flat_rank in (0, 1):
        trainer = Engine(synced_step)
        scored: list[int] = []

        def score(engine: Engine, flat_rank: int = flat_rank, scored: list[int] = scored) -> float:
            scored.append(engine.state.epoch)
            return 1.0 if distributed.get_rank() == flat_rank else float(engine.state.epoch)

        stopper = EarlyStopping(2, score, trainer)
        trainer.add_event_handler(Events.EPOCH_COMPLETED, stopper)
        state = trainer.run(range(3), max_epochs=8)
        results.append(
            {
                "flat_rank": flat_rank,
                "epoch": state.epoch,
                "iteration": state.iteration,
                "stopped": stopper.stopped,
                "best_score": stopper.best_score,
                "counter": stopper.counter,
                "scored": len(scored),
            }
        )
    return results


def throughput() -> dict[str, Any]:
    """Rank r's batches hold r + 1 samples: the monitor counts the samples of every rank."""
    engine = Engine(synced_step)
    monitor = ThroughputMonitor().attach(engine)
    state = engine.run([torch.zeros(distributed.get_rank() + 1, 2)] * 4, max_epochs=1)
    return {
        "samples": monitor.samples,
        "global_samples": monitor.global_samples,
        "samples_per_second": state.metrics["samples_per_second"],
    }


def time_limit() -> int:
    """Rank 0's clock runs out after 3 iterations, rank 1's clock stands still."""
    ticks = iter(range(1000))
    clock = (lambda: float(next(ticks))) if distributed.get_rank() == 0 else (lambda: 0.0)
    trainer = Engine(synced_step)
    TimeLimit(3, clock=clock).attach(trainer)
    return trainer.run(range(10)).iteration


def terminate_on_nan() -> int:
    """Rank 1's third output is NaN."""

    def step(engine: Engine, batch: Any) -> float:
        synced_step(engine, batch)
        return math.nan if (distributed.get_rank() == 1 and engine.state.iteration == 3) else 0.5

    trainer = Engine(step)
    TerminateOnNan().attach(trainer)
    return trainer.run(range(10)).iteration


def progress_bar(folder: str) -> str:
    """Each rank gives the bar its own file: only rank 0's gets anything."""
    path = Path(folder) / f"rank{distributed.get_rank()}.txt"
    with path.open("w") as stream:
        engine = Engine(synced_step)
        bar = ProgressBar(file=stream)
        bar.attach(engine)
        engine.run(range(5))
        bar.log_message("done")
    return path.read_text()


def all_scenarios(local_rank: int, folder: str) -> dict[str, Any]:
    return {
        "rank": distributed.get_rank(),
        "early_stopping": early_stopping(),
        "throughput": throughput(),
        "time_limit": time_limit(),
        "terminate_on_nan": terminate_on_nan(),
        "progress_bar": progress_bar(folder),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    import handler_rank_workers  # the spawned processes import the scenarios from this module by name

    print(json.dumps(distributed.spawn(handler_rank_workers.all_scenarios, nprocs=2, args=(sys.argv[1],))))
