"""The state an :class:`~ember.engine.Engine` shares with its process function and handlers."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from ember.engine.events import BUILTIN_EVENT_COUNTERS

__all__ = ["State"]


class State:
    """What the engine knows about the current run, shared with the process function and handlers.

    The counters (``iteration``, ``epoch``) are advanced by the engine only; read them, do not
    write them. Handlers may add attributes of their own (``engine.state.best_score = ...``), and
    custom events registered with ``event_to_attr`` get a counter attribute here.

    Attributes:
        iteration: iterations run so far, over all epochs (the first iteration is 1).
        epoch: the epoch being run or last run (the first epoch is 1).
        epoch_length: iterations per epoch; ``None`` until known for data without ``len``.
        max_epochs: the run stops after this epoch (``None`` when ``max_iters`` is used).
        max_iters: the run stops after this iteration (``None`` when ``max_epochs`` is used).
        output: what the process function returned for the last iteration.
        batch: the batch of the current (or last) iteration.
        metrics: metric values by name, filled by attached metrics.
        dataloader: the data the engine iterates over.
        seed: a seed for the run's random number generators, for handlers that use one.
        times: seconds taken by the last epoch (``"EPOCH_COMPLETED"``) and by the whole run
            (``"COMPLETED"``), or ``None`` while not yet measured.
        event_to_attr: which attribute counts each event (``iteration`` for iteration events,
            ``epoch`` for epoch events, and the counters of custom events registered on the engine).

    >>> State(iteration=5).iteration
    5
    """

    def __init__(self, **kwargs: Any) -> None:
        self.iteration: int = 0
        self.epoch: int = 0
        self.epoch_length: int | None = None
        self.max_epochs: int | None = None
        self.max_iters: int | None = None
        self.output: Any = None
        self.batch: Any = None
        self.metrics: dict[str, Any] = {}
        self.dataloader: Iterable[Any] | None = None
        self.seed: int | None = None
        self.times: dict[str, float | None] = {"EPOCH_COMPLETED": None, "COMPLETED": None}
        self.event_to_attr: dict[Any, str] = dict(BUILTIN_EVENT_COUNTERS)
        for name, value in kwargs.items():
            setattr(self, name, value)

    def get_event_attrib_value(self, event_name: Any) -> int:
        """The current count of ``event_name``'s counter (e.g. ``state.iteration`` for ``ITERATION_COMPLETED``).

        A filtered event counts as its base event. Loggers use it as the step of an event.

        Raises:
            ValueError: the event has no counter (``EXCEPTION_RAISED``, or a custom event registered
                without ``event_to_attr``).

        >>> from ember.engine import Events
        >>> State(iteration=7, epoch=2).get_event_attrib_value(Events.ITERATION_COMPLETED(every=7))
        7
        """
        event = getattr(event_name, "event", event_name)  # a FilteredEvent counts as its base event
        attribute = self.event_to_attr.get(event)
        if attribute is None:
            raise ValueError(
                f"{event_name!r} has no counter on this state. Built-in iteration and epoch events have one; "
                "register a custom event with event_to_attr={event: 'attribute'} to give it one."
            )
        return int(getattr(self, attribute))

    def __repr__(self) -> str:
        """ignite's layout, so a program that prints ``engine.state`` prints what it printed with ignite.

        ``State:`` then one tab-indented ``name: value`` line per attribute (handlers' own included); a
        value other than a number or a string shows as its type, as ignite shows it (``output`` and
        ``batch`` would otherwise print whole tensors).

        >>> print(repr(State(iteration=3)).splitlines()[:4])
        ['State:', '\\titeration: 3', '\\tepoch: 0', "\\tepoch_length: <class 'NoneType'>"]
        """
        lines = ["State:"]
        for name, value in vars(self).items():
            if name == "event_to_attr":  # per engine in ember, a class attribute in ignite: not shown there
                continue
            shown = value if isinstance(value, (numbers.Number, str)) else type(value)
            lines.append(f"\t{name}: {shown}")
        return "\n".join(lines) + "\n"
