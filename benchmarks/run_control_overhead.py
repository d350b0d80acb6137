"""Per-iteration cost of the run-control handlers: TerminateOnNan, TimeLimit and LRScheduler.

Runs an engine whose process function returns a precomputed loss (a one-element tensor, as a
training step would) over N items, once with no handler and once with each handler attached at
``ITERATION_COMPLETED``, and prints the microseconds per iteration that the handler adds. The
LRScheduler row steps a real ``StepLR`` on a real optimizer, so it includes torch's own cost of
``scheduler.step()``; the "StepLR by hand" row measures that cost alone, in the same process.

Each figure is the best of several repetitions (the least disturbed run), minus the best run
without handler measured in the same process.

    python benchmarks/run_control_overhead.py [--items N] [--repeats R]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from ember.engine import Engine
from ember.handlers import LRScheduler, TerminateOnNan, TimeLimit
from engine_overhead import best_seconds  # the sibling benchmark's timer (scripts run from benchmarks/)

LOSS = torch.tensor(0.25)
NESTED = {"loss": LOSS, "parts": [LOSS, 0.5], "accuracy": 0.9}


def optimizer_and_scheduler() -> tuple[torch.optim.Optimizer, Any]:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1000, gamma=0.5)
    optimizer.step()  # so torch does not warn that the scheduler steps before the optimizer
    return optimizer, scheduler


def engine_case(case: str, data: list[int]) -> Callable[[], object]:
    output = NESTED if case == "nan_nested" else LOSS
    engine = Engine(lambda engine, batch: output)
    if case in ("nan_tensor", "nan_nested"):
        TerminateOnNan().attach(engine)
    elif case == "time_limit":
        TimeLimit(3600).attach(engine)
    elif case == "lr_scheduler":
        optimizer, scheduler = optimizer_and_scheduler()
        LRScheduler(scheduler, optimizer).attach(engine)
    return lambda: engine.run(data, max_epochs=1)


def step_lr_by_hand(data: list[int]) -> Callable[[], object]:
    _, scheduler = optimizer_and_scheduler()

    def run() -> None:
        for _ in data:
            scheduler.step()

    return run


CASES = {
    "nan_tensor": "TerminateOnNan, tensor loss",
    "nan_nested": "TerminateOnNan, dict with 2 tensors + 2 floats",
    "time_limit": "TimeLimit",
    "lr_scheduler": "LRScheduler(StepLR)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = list(range(args.items))
    per_item = 1e6 / args.items

    baseline = best_seconds(engine_case("none", data), args.repeats)
    print(f"engine without handler: {baseline * per_item:.2f} us/iteration ({args.items} iterations)")
    print(f"{'handler':<50} {'added us/iteration':>20}")
    for case, label in CASES.items():
        seconds = best_seconds(engine_case(case, data), args.repeats)
        print(f"{label:<50} {(seconds - baseline) * per_item:>20.2f}")
    by_hand = best_seconds(step_lr_by_hand(data), args.repeats)
    print(f"{'StepLR.step() by hand (torch alone)':<50} {by_hand * per_item:>20.2f}")


if __name__ == "__main__":
    main()
