"""Truncated backpropagation through time with a bare ``Engine``, custom events and ``event_to_attr``.

Run it with ``python -m ember.examples.tbptt``. The task is made up here: each sequence is random
noise, and the target at time ``t`` is the input at ``t - delay``. A small GRU must carry what it
saw across time, also across the boundaries of the chunks it is trained on: each batch of long
sequences is cut into chunks of ``--chunk`` steps, the model does one optimizer step per chunk,
and the hidden state flows on into the next chunk, detached, so gradients stop at the boundary.

This is pytorch-ignite's ``TBPTT_Events`` example made real. The process function fires two
custom events around each chunk; ``event_to_attr`` maps them to the counter
``engine.state.time_iteration``, so handlers can be filtered on it like on built-in events
(``TBPTTEvents.TIME_ITERATION_COMPLETED(every=25)``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ember.engine import Engine, EventEnum, Events


class TBPTTEvents(EventEnum):
    """Fired by the process function around each chunk of time steps."""

    TIME_ITERATION_STARTED = "time_iteration_started"
    TIME_ITERATION_COMPLETED = "time_iteration_completed"


#: Both events count one attribute of ``engine.state``: the chunks processed so far.
TBPTT_EVENT_TO_ATTR = {
    TBPTTEvents.TIME_ITERATION_STARTED: "time_iteration",
    TBPTTEvents.TIME_ITERATION_COMPLETED: "time_iteration",
}


def state_of(engine: Engine) -> dict[str, Any]:
    """``engine.state``'s attributes as a dict: the counter that ``event_to_attr`` added, ``chunk_loss`` ...

    (Plain attribute access, ``engine.state.time_iteration``, works as well; this keeps type checkers
    content about attributes that ``State`` does not declare.)
    """
    return vars(engine.state)


def make_batches(
    batches: int, batch_size: int, length: int, delay: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` pairs (inputs, targets) of shape (batch, length, 1): the target is the input ``delay`` steps back."""
    generator = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(batches):
        inputs = torch.randn(batch_size, length + delay, 1, generator=generator)
        data.append((inputs[:, delay:], inputs[:, :length]))
    return data


class DelayModel(nn.Module):
    """A GRU and a linear read-out: (batch, time, 1) -> (batch, time, 1), carrying a hidden state."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, 1)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, state = self.gru(inputs, state)
        return self.readout(outputs), state


def create_tbptt_trainer(model: DelayModel, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, chunk: int) -> Engine:
    """A trainer whose iteration is one batch of long sequences, trained chunk by chunk.

    The output of an iteration is the mean loss of its chunks.
    """

    def process(engine: Engine, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        inputs, targets = batch
        model.train()
        state: torch.Tensor | None = None
        losses = []
        for start in range(0, inputs.shape[1], chunk):
            state_of(engine)["time_iteration"] += 1  # the code that fires a counted event advances its counter
            engine.fire_event(TBPTTEvents.TIME_ITERATION_STARTED)
            optimizer.zero_grad()
            predictions, state = model(inputs[:, start : start + chunk], state)
            loss = loss_fn(predictions, targets[:, start : start + chunk])
            loss.backward()
            optimizer.step()
            state = state.detach()  # truncation: the next chunk's gradients stop here
            state_of(engine)["chunk_loss"] = loss.item()
            losses.append(loss.item())
            engine.fire_event(TBPTTEvents.TIME_ITERATION_COMPLETED)
        return float(sum(losses) / len(losses))

    trainer = Engine(process)
    trainer.register_events(*TBPTTEvents, event_to_attr=TBPTT_EVENT_TO_ATTR)
    return trainer


@torch.no_grad()
def evaluate(model: DelayModel, data: list[tuple[torch.Tensor, torch.Tensor]], loss_fn: nn.Module) -> float:
    """The mean loss over whole sequences, run in one piece."""
    model.eval()
    losses = [loss_fn(model(inputs, None)[0], targets).item() for inputs, targets in data]
    return float(sum(losses) / len(losses))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Train, print per epoch, and return the validation loss before and after training."""
    options = argparse.ArgumentParser(
        prog="python -m ember.examples.tbptt",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_argument("--epochs", type=int, default=3, help="epochs (default: %(default)s)")
    options.add_argument("--length", type=int, default=100, help="time steps per sequence (default: %(default)s)")
    options.add_argument("--chunk", type=int, default=20, help="time steps per truncated chunk (default: %(default)s)")
    options.add_argument("--delay", type=int, default=3, help="how far back the target looks (default: %(default)s)")
    options.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate (default: %(default)s)")
    options.add_argument("--seed", type=int, default=0, help="seed of the data and model (default: %(default)s)")
    args = options.parse_args(argv)
    for name in ("epochs", "length", "chunk"):
        if getattr(args, name) < 1:
            options.error(f"--{name} must be at least 1, got {getattr(args, name)}.")
    if not 0 <= args.delay < args.length:
        options.error(f"--delay must be between 0 and --length - 1, got {args.delay}.")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs fastest on one thread
    try:
        return train(args)
    finally:
        torch.set_num_threads(threads)


def train(args: argparse.Namespace) -> dict[str, float]:
    """Train as the options say; return the validation loss before and after, and the chunks processed."""
    torch.manual_seed(args.seed)
    train_data = make_batches(20, 32, args.length, args.delay, args.seed)
    validation_data = make_batches(4, 64, args.length, args.delay, args.seed + 1)
    model = DelayModel()
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    trainer = create_tbptt_trainer(model, optimizer, loss_fn, args.chunk)
    chunks_per_sequence = -(-args.length // args.chunk)

    @trainer.on(TBPTTEvents.TIME_ITERATION_COMPLETED(every=50))
    def report_chunk(engine: Engine) -> None:
        print(f"  chunk {state_of(engine)['time_iteration']:4d}  loss {state_of(engine)['chunk_loss']:.4f}")

    @trainer.on(Events.EPOCH_COMPLETED)
    def report_epoch(engine: Engine) -> None:
        print(
            f"epoch {engine.state.epoch}  train loss {engine.state.output:.4f}  "
            f"validation loss {evaluate(model, validation_data, loss_fn):.4f}  "
            f"({state_of(engine)['time_iteration']} chunks of {args.chunk} steps so far)"
        )

    before = evaluate(model, validation_data, loss_fn)
    print(f"validation loss before training {before:.4f} (the inputs' variance is 1)")
    trainer.run(train_data, max_epochs=args.epochs)
    after = evaluate(model, validation_data, loss_fn)
    print(
        f"done: {trainer.state.iteration} iterations x {chunks_per_sequence} chunks = "
        f"{state_of(trainer)['time_iteration']} optimizer steps; validation loss {before:.4f} -> {after:.4f}"
    )
    return {"before": before, "after": after, "time_iterations": float(state_of(trainer)["time_iteration"])}


if __name__ == "__main__":
    main()
