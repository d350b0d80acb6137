"""Keep every iteration's output of an epoch, e.g. to compute something over the whole epoch afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach, check_callable

__all__ = ["EpochOutputStore"]


class EpochOutputStore:
    """Collect ``output_transform(engine.state.output)`` of each iteration of the current epoch in :attr:`data`.

    Args:
        output_transform: what to keep of each output (default: the whole output).

    The list is emptied when an epoch starts; with ``attach(engine, name="outputs")`` it is also
    stored as ``engine.state.outputs`` when the epoch completes. It holds what the outputs hold:
    keep tensors small (or moved to the CPU) on long epochs.

    >>> evaluator = Engine(lambda engine, batch: batch * 10)
    >>> store = EpochOutputStore()
    >>> store.attach(evaluator, name="outputs")
    >>> evaluator.run([1, 2, 3]).outputs
    [10, 20, 30]
    """

    def __init__(self, output_transform: Callable[[Any], Any] = lambda output: output) -> None:
        check_callable(output_transform, "output_transform", "output_transform(output)", "lambda output: output[0]")
        self.output_transform = output_transform
        #: the kept outputs of the current (or last) epoch
        self.data: list[Any] = []
        #: the ``engine.state`` attribute that :meth:`store` fills (``attach``'s ``name``, as in ignite)
        self.name: str | None = None

    def reset(self) -> None:
        """Forget the kept outputs (done when an epoch starts)."""
        self.data = []

    def update(self, engine: Engine) -> None:
        """Keep the transformed output of ``engine``'s current iteration."""
        self.data.append(self.output_transform(engine.state.output))

    def store(self, engine: Engine, name: str | None = None) -> None:
        """Put the kept outputs in ``engine.state.<name>`` (by default the ``name`` given to :meth:`attach`)."""
        name = self.name if name is None else name
        if name is None:
            raise ValueError(
                "EpochOutputStore.store needs the engine.state attribute to fill: pass name='outputs', or attach "
                "the store with attach(engine, name='outputs')."
            )
        setattr(engine.state, name, self.data)

    def attach(self, engine: Engine, name: str | None = None) -> None:
        """Empty at ``EPOCH_STARTED``, keep at ``ITERATION_COMPLETED``, and with ``name`` store at ``EPOCH_COMPLETED``.

        Raises:
            TypeError: ``engine`` is not an Engine, or ``name`` is not a string.
            ValueError: ``name`` is not a valid attribute name.
            RuntimeError: the store is already attached to ``engine``.
        """
        check_attach(
            "EpochOutputStore",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self.update),
            consequence="keep each output twice",
            fix="Attach it once.",
        )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {name!r} ({type(name).__name__}).")
        if name is not None and not name.isidentifier():
            raise ValueError(
                f"name must be a valid attribute name for engine.state, got {name!r}. Pass e.g. 'outputs'."
            )
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.update)
        if name is not None:
            self.name = name
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.store, name)
