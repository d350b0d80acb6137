"""Two-process gloo runs of the rank-aware handlers, started as a script so a test can bound them with a timeout.

``python handler_rank_workers.py SCENARIO`` spawns 2 processes with ``ember.distributed.spawn`` (start
method spawn, 127.0.0.1), runs SCENARIO on each and prints their results as one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.handlers import EarlyStopping, ThroughputMonitor


def early_stopping(local_rank: int) -> list[dict[str, Any]]:
    """Two trainings; in each only one rank's score stops improving, the other's improves every epoch."""
    results = []
    for flat_rank in (0, 1):
        # A collective every iteration: a rank that stopped alone would leave the other one blocked here.
        trainer = Engine(lambda engine, batch: distributed.all_reduce(torch.ones(1)).item())
        epochs_seen: list[int] = []

        def score(engine: Engine, flat_rank: int = flat_rank, epochs_seen: list[int] = epochs_seen) -> float:
            epoch = engine.state.epoch
            epochs_seen.append(epoch)
            return 1.0 if distributed.get_rank() == flat_rank else float(epoch)

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
                "scored": len(epochs_seen),
            }
        )
    return results


def throughput(local_rank: int) -> dict[str, Any]:
    """Rank r's batches hold r + 1 samples: the monitor counts the samples of every rank."""
    engine = Engine(lambda engine, batch: None)
    monitor = ThroughputMonitor().attach(engine)
    batches = [torch.zeros(local_rank + 1, 2)] * 4
    state = engine.run(batches, max_epochs=1)
    return {
        "samples": monitor.samples,
        "iterations": monitor.iterations,
        "samples_per_second": state.metrics["samples_per_second"],
        "global_samples": monitor.global_samples,
    }


SCENARIOS = {"early_stopping": early_stopping, "throughput": throughput}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    import handler_rank_workers  # the spawned processes import the scenario from this module by name

    print(json.dumps(distributed.spawn(getattr(handler_rank_workers, sys.argv[1]), nprocs=2)))
