"""Schedulers made of other schedulers: one per param group, or one after the other."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch  # noqa: F401 - the docstring examples use it

from ember.engine import Engine, Events
from ember.handlers._attach import check_attach
from ember.handlers.param_scheduler._base import ParamScheduler, _check_bool, _refuse_second_registration
from ember.handlers.param_scheduler._cyclical import (  # noqa: F401 - the docstring examples use them
    CosineAnnealingScheduler,
    LinearCyclicalScheduler,
    PiecewiseLinear,
)


def _optimizers_and_names(schedulers: Sequence[Any]) -> tuple[list[Any], list[str]]:
    optimizers: list[Any] = []
    names: list[str] = []
    for scheduler in schedulers:
        optimizer, name = scheduler.optimizer, scheduler.param_name
        optimizers.extend(optimizer if isinstance(optimizer, list) else [optimizer])
        names.extend(name if isinstance(name, list) else [name])
    return optimizers, names


class ParamGroupScheduler:
    """Several schedulers stepped together, e.g. one per param group; a handler like each of them.

    Args:
        schedulers: the parameter schedulers.
        names: the name of each in ``engine.state.param_history`` (default: their ``param_name``).
        save_history: sets ``save_history`` of every scheduler.

    >>> optimizer = torch.optim.SGD(
    ...     [{"params": [torch.zeros(1)]}, {"params": [torch.zeros(1)]}], lr=0.1
    ... )
    >>> scheduler = ParamGroupScheduler([
    ...     PiecewiseLinear(optimizer, "lr", [(0, 0.0), (2, 0.2)], param_group_index=0),
    ...     PiecewiseLinear(optimizer, "lr", [(0, 1.0), (2, 0.0)], param_group_index=1),
    ... ])
    >>> scheduler(None); scheduler(None)
    >>> [group["lr"] for group in optimizer.param_groups]
    [0.1, 0.5]
    """

    def __init__(
        self, schedulers: Sequence[ParamScheduler], names: Sequence[str] | None = None, save_history: bool = False
    ) -> None:
        if isinstance(schedulers, str) or not isinstance(schedulers, Sequence) or not schedulers:
            raise TypeError(f"schedulers must be a non-empty list of parameter schedulers, got {schedulers!r}.")
        wrong = [type(s).__name__ for s in schedulers if not isinstance(s, ParamScheduler)]
        if wrong:
            raise TypeError(
                f"schedulers must hold parameter schedulers (PiecewiseLinear, LRScheduler ...), got {wrong}."
            )
        if names is None:
            names = [scheduler.param_name for scheduler in schedulers]
        if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a list of strings, got {names!r}.")
        if len(names) != len(schedulers):
            raise ValueError(
                f"names has {len(names)} entries for {len(schedulers)} schedulers. Give one name per scheduler."
            )
        self.schedulers = list(schedulers)
        self.names = list(names)
        self.save_history = _check_bool("save_history", save_history)
        self.optimizer = [scheduler.optimizer for scheduler in self.schedulers]
        self.param_name = [scheduler.param_name for scheduler in self.schedulers]

    @property
    def save_history(self) -> bool:
        """Whether the schedulers record their values in ``engine.state.param_history``."""
        return self.schedulers[0].save_history

    @save_history.setter
    def save_history(self, value: bool) -> None:
        for scheduler in self.schedulers:
            scheduler.save_history = value

    @property
    def optimizer_param_groups(self) -> list[dict[str, Any]]:
        """The param groups of all the schedulers, in order."""
        return [group for scheduler in self.schedulers for group in scheduler.optimizer_param_groups]

    def attach(self, engine: Engine, event: Any = Events.ITERATION_STARTED) -> None:
        """Step the schedulers whenever ``event`` fires on ``engine``.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: already attached to ``engine``.
        """
        check_attach(
            "ParamGroupScheduler",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="step the schedules twice per event",
            fix="Attach it once.",
        )
        engine.add_event_handler(event, self)

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """One event for every scheduler, each recorded under its own name."""
        _refuse_second_registration(self, engine)
        for scheduler, scheduler_name in zip(self.schedulers, self.names, strict=True):
            scheduler(engine, scheduler_name)

    def get_param(self) -> list[float | list[float]]:
        """Each scheduler's current value."""
        return [scheduler.get_param() for scheduler in self.schedulers]

    def state_dict(self) -> dict[str, Any]:
        """``{"schedulers": [(name, state_dict), ...]}``, for checkpoints."""
        return {"schedulers": [(n, s.state_dict()) for n, s in zip(self.names, self.schedulers, strict=True)]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict` of this grouping.
        """
        if not isinstance(state_dict, Mapping) or "schedulers" not in state_dict:
            raise TypeError(
                "load_state_dict expects a mapping with a 'schedulers' list, saved by ParamGroupScheduler.state_dict()."
            )
        saved = list(state_dict["schedulers"])
        if len(saved) != len(self.schedulers):
            raise ValueError(
                f"The state dict holds {len(saved)} schedulers, but this ParamGroupScheduler has "
                f"{len(self.schedulers)}. Load a state saved by the same grouping."
            )
        for expected, scheduler, (name, scheduler_state) in zip(self.names, self.schedulers, saved, strict=True):
            if name != expected:
                raise ValueError(
                    f"The state dict's scheduler {name!r} is where this grouping has {expected!r}. Load a state "
                    "saved by the same grouping."
                )
            scheduler.load_state_dict(scheduler_state)

    @classmethod
    def simulate_values(cls, num_events: int, schedulers: Sequence[ParamScheduler], **kwargs: Any) -> list[list[Any]]:
        """``[[event_index, value_0, value_1, ...], ...]``: each scheduler's value before each event.

        The schedulers and their optimizers are put back as they were afterwards.
        """
        with _restored(schedulers):
            grouped = cls(schedulers=schedulers, **kwargs)
            values: list[list[Any]] = []
            for index in range(num_events):
                values.append([index, *(scheduler.get_param() for scheduler in schedulers)])
                grouped(None)
        return values


class _restored:
    """Put schedulers and their optimizers back as they were when the block ends (for simulations)."""

    def __init__(self, schedulers: Sequence[Any]) -> None:
        self.schedulers = list(schedulers)
        optimizers, _ = _optimizers_and_names(self.schedulers)
        self.optimizers = list({id(optimizer): optimizer for optimizer in optimizers}.values())

    def __enter__(self) -> None:
        self.saved = [copy.deepcopy(scheduler.state_dict()) for scheduler in self.schedulers]
        self.saved_optimizers = [copy.deepcopy(optimizer.state_dict()) for optimizer in self.optimizers]

    def __exit__(self, *exc_info: object) -> None:
        for scheduler, state in zip(self.schedulers, self.saved, strict=True):
            scheduler.load_state_dict(state)
        for optimizer, state in zip(self.optimizers, self.saved_optimizers, strict=True):
            optimizer.load_state_dict(state)


class ConcatScheduler(ParamScheduler):
    """Run ``schedulers`` one after the other: the first for ``durations[0]`` events, and so on.

    Args:
        schedulers: two or more parameter schedulers (or :class:`ParamGroupScheduler`) of one
            optimizer and one ``param_name``; the last runs for the rest of the training.
        durations: events given to each scheduler but the last (one fewer than ``schedulers``).
        save_history: sets ``save_history`` of every scheduler.

    Each scheduler starts from its own ``event_index`` 0 when its turn comes.

    >>> optimizer = torch.optim.SGD([torch.zeros(1)], lr=0.1)
    >>> scheduler = ConcatScheduler(
    ...     [
    ...         LinearCyclicalScheduler(optimizer, "lr", 0.0, 1.0, cycle_size=8),
    ...         CosineAnnealingScheduler(optimizer, "lr", 1.0, 0.2, cycle_size=4),
    ...     ],
    ...     durations=[4],
    ... )
    >>> values = []
    >>> for _ in range(6):
    ...     scheduler(None)
    ...     values.append(round(optimizer.param_groups[0]["lr"], 4))
    >>> values
    [0.0, 0.25, 0.5, 0.75, 1.0, 0.8828]
    """

    def __init__(
        self,
        schedulers: Sequence[ParamScheduler | ParamGroupScheduler],
        durations: Sequence[int],
        save_history: bool = False,
    ) -> None:
        if isinstance(schedulers, str) or not isinstance(schedulers, Sequence):
            raise TypeError(f"schedulers must be a list of parameter schedulers, got {schedulers!r}.")
        if len(schedulers) < 2:
            raise ValueError(
                f"ConcatScheduler needs at least two schedulers to chain, got {len(schedulers)}. "
                "Use the scheduler itself when there is only one."
            )
        if not isinstance(durations, (list, tuple)):
            raise TypeError(f"durations must be a list of whole numbers of events, got {durations!r}.")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in durations):
            raise ValueError(f"durations must hold whole numbers of events >= 0, got {list(durations)}.")
        if len(schedulers) != len(durations) + 1:
            raise ValueError(
                f"{len(schedulers)} schedulers need {len(schedulers) - 1} durations (the last one runs to the end), "
                f"got {len(durations)}."
            )
        wrong = [type(s).__name__ for s in schedulers if not isinstance(s, (ParamScheduler, ParamGroupScheduler))]
        if wrong:
            raise TypeError(f"schedulers must hold parameter schedulers, got {wrong}.")
        optimizers, names = _optimizers_and_names(schedulers)
        if len({id(optimizer) for optimizer in optimizers}) != 1:
            raise ValueError("The schedulers of a ConcatScheduler must all set the same optimizer.")
        if len(set(names)) != 1:
            raise ValueError(
                f"The schedulers of a ConcatScheduler must all set the same parameter, got {sorted(set(names))}."
            )
        self.schedulers = list(schedulers)
        self.durations = [int(d) for d in durations]
        skipped = [index for index, duration in enumerate(self.durations) if duration == 0 and index > 0]
        if skipped:
            warnings.warn(
                f"ConcatScheduler: schedulers{skipped} have a duration of 0, so ember skips them; "
                "ignite 0.5.5 stays on such a scheduler for the rest of the run. Remove them to get the same "
                "schedule from both.",
                UserWarning,
                stacklevel=2,
            )
        self._scheduler_index = 0
        self._current_duration = self.durations[0]
        super().__init__(optimizers[0], names[0], save_history)
        self.save_history = save_history
        self._state_attrs += ["_scheduler_index", "_current_duration", "durations"]

    @property
    def save_history(self) -> bool:
        """Whether the schedulers record their values in ``engine.state.param_history``."""
        return self._save_history

    @save_history.setter
    def save_history(self, value: bool) -> None:
        self._save_history = _check_bool("save_history", value)
        for scheduler in getattr(self, "schedulers", ()):
            scheduler.save_history = value

    @property
    def current_scheduler(self) -> ParamScheduler | ParamGroupScheduler:
        """The scheduler whose turn it is."""
        return self.schedulers[self._scheduler_index]

    @property
    def optimizer_param_groups(self) -> list[dict[str, Any]]:
        """The param groups the current scheduler sets."""
        return self.current_scheduler.optimizer_param_groups

    def __call__(self, engine: Engine | None = None, name: str | None = None) -> None:
        """One event for the scheduler whose turn it is; the next one's turn comes after its duration."""
        _refuse_second_registration(self, engine)
        while self._current_duration == 0 and self._scheduler_index < len(self.durations):
            self._scheduler_index += 1
            last = self._scheduler_index == len(self.durations)
            self._current_duration = -1 if last else self.durations[self._scheduler_index]
        self.current_scheduler(engine, name)
        self._current_duration -= 1
        # as in ignite, the chain's own event_index stays 0: each scheduler counts its own events

    def get_param(self) -> Any:
        """The current scheduler's value."""
        return self.current_scheduler.get_param()

    def state_dict(self) -> dict[str, Any]:
        """Where the chain stands, with each scheduler's state, for checkpoints."""
        saved = super().state_dict()
        saved["schedulers"] = [scheduler.state_dict() for scheduler in self.schedulers]
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict` of this chain.
        """
        if not isinstance(state_dict, Mapping) or "schedulers" not in state_dict:
            raise TypeError(
                "load_state_dict expects a mapping with a 'schedulers' list, saved by ConcatScheduler.state_dict()."
            )
        saved = list(state_dict["schedulers"])
        if len(saved) != len(self.schedulers):
            raise ValueError(
                f"The state dict holds {len(saved)} schedulers, but this ConcatScheduler chains "
                f"{len(self.schedulers)}. Load a state saved by the same chain."
            )
        for scheduler, scheduler_state in zip(self.schedulers, saved, strict=True):
            scheduler.load_state_dict(scheduler_state)
        super().load_state_dict(state_dict)

    @classmethod
    def simulate_values(  # type: ignore[override]
        cls,
        num_events: int,
        schedulers: Sequence[ParamScheduler | ParamGroupScheduler],
        durations: Sequence[int],
        param_names: Sequence[str] | None = None,
    ) -> list[list[Any]]:
        """``[[event_index, value, ...], ...]``: the values set at each event (one per param group).

        The schedulers and their optimizer are put back as they were afterwards.
        """
        if param_names is not None and (
            isinstance(param_names, str) or not all(isinstance(name, str) for name in param_names)
        ):
            raise TypeError(f"param_names must be a list of parameter names, got {param_names!r}.")
        with _restored(schedulers):
            for scheduler in schedulers:
                scheduler.save_history = False
            chain = cls(schedulers=schedulers, durations=durations, save_history=False)
            names = list(param_names) if param_names is not None else [chain.param_name]
            values: list[list[Any]] = []
            for index in range(num_events):
                chain(None)
                row: list[Any] = [index]
                for name in names:
                    row.extend(group[name] for group in chain.optimizer_param_groups)
                values.append(row)
        return values
