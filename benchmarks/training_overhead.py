"""Per-step cost of ember's supervised trainer, beyond a bare hand-written training loop.

Trains a tiny MLP (32 -> 32 -> 10, ReLU, batch 16, SGD, cross-entropy, one CPU thread) for 500
steps over a pre-built list of batches, with: a bare loop (zero_grad, forward, loss, backward, step,
loss.item()); ember's ``create_supervised_trainer``; and, when they are installed, pytorch-ignite's
``create_supervised_trainer`` and Lightning's ``Trainer.fit``. The cases run alternately (in
reverse order every other round), 40 rounds, in one process. "us per step" is the median over the
rounds; "over bare loop" is the median of each round's difference from the bare loop of the same
round, with the quartiles of those differences: pairing each round with its neighbour cancels most
of the drift of a shared machine. The tiny model makes the framework's own cost visible: a real
model's step takes far longer, the overhead stays the same.

    python benchmarks/training_overhead.py [--steps N] [--rounds R] [--clock wall|cpu]

``--clock cpu`` times with the process's CPU time instead of the wall clock: on a machine shared with
other jobs, the time the process waits for a core then does not count (the cases are single-threaded).

A second table times the frameworks alone: the same loop and trainers with a model that returns its
input, a loss whose ``backward()`` and ``item()`` do nothing and an optimizer whose ``step()`` and
``zero_grad()`` do nothing, so that what is left is the framework's own Python per step. Its
differences are a fraction of a microsecond and stable from run to run. In the first table the
same work costs more, since the model's own work leaves the caches cold for the framework's Python.

Run it with a Python that also has pytorch-ignite and lightning installed (and ``PYTHONPATH=src``)
to get their columns; they are reported as "not installed" otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))


def make_batches(steps: int, batch_size: int = 16) -> list[Batch]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(batch_size, 32, generator=generator), torch.randint(0, 10, (batch_size,), generator=generator))
        for _ in range(steps)
    ]


def bare_loop(batches: list[Batch]) -> Callable[[], object]:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        model.train()
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()

    return run


def factory_trainer(module: Any, batches: list[Batch]) -> Callable[[], object]:
    """ember's or pytorch-ignite's create_supervised_trainer: the same call for both."""
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = module.create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss())
    return lambda: trainer.run(batches, max_epochs=1)


class _NoOpLoss:
    """A loss whose backward() and item() cost nothing: only the framework's own work is left."""

    def backward(self) -> None:
        pass

    def item(self) -> float:
        return 0.0

    def __mul__(self, factor: float) -> _NoOpLoss:  # ignite scales the loss it reports
        return self

    def __truediv__(self, factor: float) -> _NoOpLoss:
        return self


_NO_OP_LOSS = _NoOpLoss()


class _PassThrough(nn.Module):
    def forward(self, x: Any) -> Any:
        return x


def _no_op_loss(y_pred: Any, y: Any) -> Any:
    return _NO_OP_LOSS


def _no_op_optimizer() -> torch.optim.Optimizer:
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.01)
    # Instance attributes shadow the methods (and torch's profiling wrapper around step).
    optimizer.step = lambda closure=None: None  # type: ignore[method-assign,assignment]
    optimizer.zero_grad = lambda set_to_none=True: None  # type: ignore[method-assign]
    return optimizer


def no_op_bare_loop(batches: list[Batch]) -> Callable[[], object]:
    model, optimizer = _PassThrough(), _no_op_optimizer()

    def run() -> None:
        model.train()
        for x, y in batches:
            optimizer.zero_grad()
            loss = _no_op_loss(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()

    return run


def no_op_trainer(module: Any, batches: list[Batch]) -> Callable[[], object]:
    trainer = module.create_supervised_trainer(_PassThrough(), _no_op_optimizer(), _no_op_loss)
    return lambda: trainer.run(batches, max_epochs=1)


def lightning_trainer(batches: list[Batch]) -> Callable[[], object]:
    import lightning

    class Module(lightning.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = make_model()
            self.loss_fn = nn.CrossEntropyLoss()

        def training_step(self, batch: Batch, batch_index: int) -> torch.Tensor:
            x, y = batch
            loss: torch.Tensor = self.loss_fn(self.model(x), y)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class Batches:
        """The pre-built batches as one iterable (Lightning would take a list for a list of loaders)."""

        def __iter__(self) -> Any:
            return iter(batches)

        def __len__(self) -> int:
            return len(batches)

    module = Module()
    data = Batches()

    def run() -> None:
        trainer = lightning.Trainer(
            max_epochs=1,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, train_dataloaders=data)

    return run


def seconds(run: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    run()
    return clock() - start


def time_cases(
    cases: dict[str, Callable[[], object] | None], rounds: int, steps: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Time the cases in alternating rounds and print a table; returns each case's per-step median in us.

    A case's overhead is the median over the rounds of its time minus the bare loop's time in the
    same round, with the quartiles of those differences.
    """
    runnable = {name: run for name, run in cases.items() if run is not None}
    for run in runnable.values():  # warm-up: first-call allocations, lazy imports
        run()
    timings: dict[str, list[float]] = {name: [] for name in runnable}
    order = list(runnable.items())
    for round_index in range(rounds):
        for name, run in order if round_index % 2 == 0 else reversed(order):
            timings[name].append(seconds(run, clock) / steps * 1e6)
    bare = timings["bare loop"]
    print(f"{'case':16s}{'us per step':>14s}{'over bare loop':>18s}{'ratio':>9s}{'quartiles of the difference':>32s}")
    medians = {}
    for name in cases:
        if name not in runnable:
            print(f"{name:16s}{'not installed':>14s}")
            continue
        per_step = medians[name] = statistics.median(timings[name])
        differences = [case - base for case, base in zip(timings[name], bare, strict=True)]
        low, _, high = statistics.quantiles(differences, n=4)
        overhead = statistics.median(differences)
        print(
            f"{name:16s}{per_step:>11.2f} us{overhead:>+15.2f} us{per_step / statistics.median(bare):>8.2f}x"
            f"{low:>+17.2f} .. {high:+.2f} us"
        )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(1)
    batches = make_batches(args.steps)

    import ember.engine

    cases: dict[str, Callable[[], object] | None] = {
        "bare loop": bare_loop(batches),
        "ember": factory_trainer(ember.engine, batches),
        "pytorch-ignite": None,
        "lightning": None,
    }
    if importlib.util.find_spec("ignite") is not None:
        import ignite.engine

        cases["pytorch-ignite"] = factory_trainer(ignite.engine, batches)
    if importlib.util.find_spec("lightning") is not None:
        import lightning  # noqa: F401  (configures its loggers on import; quieten them after)

        # Lightning's start-up tips and warnings about the plain-iterable data are not what is measured.
        logging.getLogger("lightning").setLevel(logging.ERROR)
        logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore")
        cases["lightning"] = lightning_trainer(batches)

    print(
        f"{args.steps} steps, tiny MLP 32->32->10, batch 16, SGD, 1 thread, torch {torch.__version__}; "
        f"median of {args.rounds} alternating rounds, {args.clock} clock"
    )
    time_cases(cases, args.rounds, args.steps, clock)
    print("a difference within its quartiles' span of zero is below what this machine can resolve now")

    no_op_steps = args.steps * 20
    one = torch.zeros(1)
    no_op_batches = [(one, one)] * no_op_steps
    no_op_cases: dict[str, Callable[[], object] | None] = {
        "bare loop": no_op_bare_loop(no_op_batches),
        "ember": no_op_trainer(ember.engine, no_op_batches),
        "pytorch-ignite": None,
    }
    if cases["pytorch-ignite"] is not None:
        import ignite.engine

        no_op_cases["pytorch-ignite"] = no_op_trainer(ignite.engine, no_op_batches)
    print(
        f"\nthe frameworks alone: {no_op_steps} steps of a pass-through model, a no-op loss and optimizer; "
        f"median of {args.rounds} alternating rounds, {args.clock} clock"
    )
    time_cases(no_op_cases, args.rounds, no_op_steps, clock)


if __name__ == "__main__":
    main()
