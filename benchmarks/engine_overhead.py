"""Engine overhead per iteration, beyond a bare Python loop calling the same process function.

Runs a no-op process function over 200,000 items (one epoch) in one process and prints the
microseconds per iteration that the engine adds, for: no handlers; 5 handlers on
ITERATION_COMPLETED(every=100); 5 plain ITERATION_COMPLETED handlers; ember's ProgressBar (when tqdm is
installed); a CSVLogger on ITERATION_COMPLETED(every=100); and, when it is installed, the same three
first cases for pytorch-ignite, side by side.

Each figure is the best of several repetitions (the least disturbed run), minus the best bare loop
measured in the same process.

    python benchmarks/engine_overhead.py [--items N] [--repeats R]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def no_op(engine: Any, batch: Any) -> None:
    return None


def handler(engine: Any) -> None:
    return None


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def bare_loop(data: list[int]) -> Callable[[], None]:
    engine = object()

    def run() -> None:
        for batch in data:
            no_op(engine, batch)

    return run


def bare_loop_with_handlers(data: list[int]) -> Callable[[], None]:
    """The physical limit for plain handlers: the bare loop calling the same 5 handlers directly."""
    engine = object()

    def run() -> None:
        for batch in data:
            no_op(engine, batch)
            handler(engine)
            handler(engine)
            handler(engine)
            handler(engine)
            handler(engine)

    return run


def engine_case(module: Any, data: list[int], case: str) -> Callable[[], object]:
    engine = module.Engine(no_op)
    events = module.Events
    if case == "every100":
        for _ in range(5):
            engine.add_event_handler(events.ITERATION_COMPLETED(every=100), handler)
    elif case == "not_due100":
        for _ in range(100):
            engine.add_event_handler(events.ITERATION_COMPLETED(every=10**9), handler)
    elif case == "plain":
        for _ in range(5):
            engine.add_event_handler(events.ITERATION_COMPLETED, handler)
    elif case == "progress_bar":
        from ember.handlers import ProgressBar

        ProgressBar(file=io.StringIO(), force=True).attach(engine)
    elif case == "csv_logger":
        from ember.handlers import CSVLogger

        logger = CSVLogger(Path(tempfile.mkdtemp()) / "metrics.csv")
        logger.attach_output_handler(
            engine, events.ITERATION_COMPLETED(every=100), tag="train", output_transform=lambda output: 0.5
        )
    return lambda: engine.run(data, max_epochs=1)


CASES = {
    "none": "no handlers",
    "every100": "5 x ITERATION_COMPLETED(every=100)",
    "not_due100": "100 x ITERATION_COMPLETED, never due",
    "plain": "5 x ITERATION_COMPLETED",
    "progress_bar": "ProgressBar attached",
    "csv_logger": "CSVLogger on ITERATION_COMPLETED(every=100)",
}
EMBER_ONLY = {"progress_bar", "csv_logger"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    data = list(range(args.items))

    import ember.engine

    modules: dict[str, Any] = {"ember": ember.engine}
    if importlib.util.find_spec("ignite") is not None:
        import ignite.engine

        modules["pytorch-ignite"] = ignite.engine
    import ember.handlers

    have_progress_bar = hasattr(ember.handlers, "ProgressBar") and importlib.util.find_spec("tqdm") is not None

    bare = best_seconds(bare_loop(data), args.repeats)
    limit = best_seconds(bare_loop_with_handlers(data), args.repeats)
    per_item = 1e6 / args.items
    print(f"bare loop: {bare * per_item:.3f} us per iteration ({args.items} items, best of {args.repeats})")
    print(
        f"bare loop calling the 5 handlers itself (the limit for plain handlers): +{(limit - bare) * per_item:.3f} us"
    )
    print(f"{'case':40s}" + "".join(f"{name:>18s}" for name in modules) + f"{'ignite / ember':>16s}")
    for case, label in CASES.items():
        row = f"{label:40s}"
        figures = {}
        for name, module in modules.items():
            if case in EMBER_ONLY and (name != "ember" or (case == "progress_bar" and not have_progress_bar)):
                row += f"{'-':>18s}"
                continue
            seconds = best_seconds(engine_case(module, data, case), args.repeats)
            figures[name] = (seconds - bare) * per_item
            row += f"{figures[name]:>15.3f} us"
        if len(figures) == 2:
            row += f"{figures['pytorch-ignite'] / max(figures['ember'], 1e-3):>15.0f}x"
        print(row)
        if case == "plain":
            print(f"{'  ember beyond the limit':40s}{figures['ember'] - (limit - bare) * per_item:>15.3f} us")
    print("figures: engine time per iteration beyond the bare loop (lower is better)")


if __name__ == "__main__":
    main()
