"""``Frequency``: how many things (samples, tokens) per second an engine processes (ignite's ``frequency`` module)."""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__ = ["Frequency"]


class Frequency(Metric):
    """The number of things processed per second since the epoch started, summed over the ranks.

    Each update adds a count (``output_transform`` picks it from ``engine.state.output``, e.g. the
    number of tokens of the batch) and notes the time elapsed since the last reset. The value is the
    total count over the elapsed time (under ``torch.distributed``: the ranks' counts over their
    mean elapsed time, the throughput of the whole job). Attached, it is stored as an int, as in ignite.

    Args:
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.

    >>> from ember.engine import Engine
    >>> engine = Engine(lambda engine, batch: {"tokens": len(batch)})
    >>> Frequency(output_transform=lambda output: output["tokens"]).attach(engine, "tokens/s")
    >>> state = engine.run([[1, 2, 3]] * 4)
    >>> state.metrics["tokens/s"] > 0
    True
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        self._start = time.perf_counter()
        super().__init__(output_transform, device, skip_unrolling)
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.add_state("elapsed", torch.tensor(0.0, dtype=torch.float64), reduction="sum")
        self.count: torch.Tensor
        self.elapsed: torch.Tensor

    def reset(self) -> None:
        """Forget the counts and restart the clock."""
        super().reset()
        self._start = time.perf_counter()

    def update(self, output: Any) -> None:
        """Add ``output`` (a number, or a one-element tensor) to the count and note the time elapsed."""
        if isinstance(output, torch.Tensor) and output.numel() == 1:
            output = output.item()
        if isinstance(output, bool) or not isinstance(output, numbers.Real):
            raise TypeError(
                f"Frequency counts numbers: each update takes how many things the iteration processed, got "
                f"{type(output).__name__}. Pass output_transform that picks the count, e.g. "
                "output_transform=lambda output: len(output[0])."
            )
        self.count += float(output)
        self.elapsed = torch.tensor(time.perf_counter() - self._start, dtype=torch.float64, device=self.device)

    def compute_from(self, state: Mapping[str, torch.Tensor]) -> float:
        """Things per second: the total count over the elapsed time (times the number of ranks, whose times add up)."""
        elapsed = float(state["elapsed"])
        if elapsed <= 0:
            raise NotComputableError(
                "Frequency needs some time to have passed since the reset before it can be computed."
            )
        return float(state["count"]) / elapsed * distributed.get_world_size()

    def completed(self, engine: Engine, name: str) -> None:
        """Handler: store the frequency as an int in ``engine.state.metrics[name]``."""
        engine.state.metrics[name] = int(self.compute())

    def attach(self, engine: Engine, name: str, event_name: Any = Events.ITERATION_COMPLETED) -> None:
        """Reset at each ``EPOCH_STARTED``, count at each ``ITERATION_COMPLETED``, publish at ``event_name``.

        ``event_name`` is ignite's argument: by default the value is published after every
        iteration; ``Events.EPOCH_COMPLETED`` publishes it once per epoch.
        """
        if not isinstance(engine, Engine):
            raise TypeError(f"Frequency.attach needs an ember Engine, got {type(engine).__name__}.")
        if not isinstance(name, str) or not name:
            raise TypeError(f"Frequency.attach needs a non-empty string name, got {name!r}.")
        engine.add_event_handler(Events.EPOCH_STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(event_name, self.completed, name)
