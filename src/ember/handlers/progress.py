"""A tqdm progress bar for an engine's epochs, cheap enough to leave on.

How it stays cheap: the bar is not a handler of every iteration. It registers itself on
``ITERATION_COMPLETED(once=n)`` for one upcoming iteration ``n`` only, and when that fires it measures
the iteration rate and moves its registration to the iteration expected about ``refresh_interval``
seconds later (at most twice as far as the last hop, so a slowdown is noticed soon). The engine skips
filtered handlers on the iterations where they do not fire, so between two refreshes the bar costs
the loop nothing; each refresh costs a few tens of microseconds.

ignite's ``attach(..., event_name=..., closing_event_name=...)`` with other events than the default
(``ITERATION_COMPLETED`` to advance, ``EPOCH_COMPLETED`` to close) advances the bar on every firing of
``event_name`` instead: the user chose those events, and tqdm limits the redraws to ``refresh_interval``.
"""

from __future__ import annotations

import numbers
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import torch

from ember.engine import Engine, Events, FilteredEvent
from ember.handlers._attach import check_attach, check_callable, is_attached

__all__ = ["ProgressBar"]

# Hops between checks grow at most by this factor, from one iteration at the start of an epoch.
_MAX_GROWTH = 2


def _scalar(value: Any) -> Any:
    """A number for the postfix: plain numbers and one-element tensors become floats; others stay as they are."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return value
    return None


def _entries(name: str, value: Any) -> list[tuple[str, Any]]:
    """The postfix entries of one named value: a number, a 1-D tensor (one entry per element), or a string."""
    number = _scalar(value)
    if number is not None:
        return [(name, number)]
    if isinstance(value, torch.Tensor) and value.dim() == 1:
        return [(f"{name}_{index}", float(item)) for index, item in enumerate(value.tolist())]
    if isinstance(value, str):
        return [(name, value)]
    return []


# The order in which the built-in events fire within a run: a bar must advance before it closes.
_EVENT_ORDER = (
    Events.STARTED,
    Events.EPOCH_STARTED,
    Events.ITERATION_STARTED,
    Events.ITERATION_COMPLETED,
    Events.EPOCH_COMPLETED,
    Events.COMPLETED,
)


def _default_output_transform(output: Any) -> Any:
    """Show a number (or one-element tensor) output as ``loss``, and the number entries of a dict output."""
    if _scalar(output) is not None:
        return output
    if isinstance(output, Mapping):
        return {str(key): value for key, value in output.items() if _scalar(value) is not None}
    return {}


class ProgressBar:
    """A tqdm bar per epoch with ETA, the loss and chosen metrics, drawn at a bounded rate.

    Args:
        persist: keep each finished bar on screen. ``None`` (default) keeps top-level bars and
            removes nested ones, such as an evaluator's bar drawn below the training bar
            (ignite's default is ``False``: pass it to get ignite's look).
        bar_format: tqdm's ``bar_format``; ``None`` (default) is tqdm's own layout, which also
            suits data of unknown length.
        desc: the bar's label (default ``"Epoch"``); with more than one epoch it reads
            ``"Epoch [2/5]"``. Give an evaluator's bar its own label, e.g. ``"Validation"``.
        file: where to write (default ``sys.stderr``, looked up at ``attach``). A ``file`` given
            here is drawn to even when it is not a terminal (a log file, a ``StringIO``).
        force: also draw to ``sys.stderr`` when it is not a terminal. Without it (and without
            ``file``), a bar whose output is not a terminal writes nothing and attaches no handler,
            so a job's log is not filled with bar redraws.
        refresh_interval: seconds between redraws (at most about twice as often while the bar
            learns how fast iterations go at the start of each epoch).
        **tqdm_kwargs: passed to :class:`tqdm.tqdm` (e.g. ``ncols``, ``ascii``).

    ignite's spelling, ``ProgressBar(persist=False, bar_format=..., desc=..., file=...)``, is the
    same constructor: ``desc`` and ``file``, which ignite passes on to tqdm, are read here.

    Under ``torch.distributed`` only rank 0 draws; on other ranks :meth:`attach` attaches nothing
    and :meth:`log_message` writes nothing. An evaluator run inside training gets its own
    ``ProgressBar``; tqdm places it below the training bar while both are open. Data without a
    length (``epoch_length`` unknown) gets a bar that counts iterations and shows their rate,
    without a total or ETA.

    The bar keeps no state of its own to checkpoint: where it stands comes from the engine's state.

    Example::

        ProgressBar().attach(trainer, metric_names=["accuracy"])
        ProgressBar(desc="Validation").attach(evaluator)

    >>> import io
    >>> engine = Engine(lambda engine, batch: 0.5)
    >>> stream = io.StringIO()
    >>> ProgressBar(file=stream).attach(engine)
    >>> _ = engine.run(range(4))
    >>> "4/4" in stream.getvalue() and "loss=0.5" in stream.getvalue()
    True
    """

    def __init__(
        self,
        persist: bool | None = None,
        bar_format: str | None = None,
        *,
        desc: str | None = None,
        file: TextIO | None = None,
        force: bool = False,
        refresh_interval: float = 0.1,
        **tqdm_kwargs: Any,
    ) -> None:
        if desc is not None and not isinstance(desc, str):
            raise TypeError(f"desc must be a string or None, got desc={desc!r} ({type(desc).__name__}).")
        if persist is not None and not isinstance(persist, bool):
            raise TypeError(f"persist must be True, False or None, got persist={persist!r}.")
        if bar_format is not None and not isinstance(bar_format, str):
            raise TypeError(
                f"bar_format must be a tqdm format string or None, got bar_format={bar_format!r} "
                f"({type(bar_format).__name__}). Pass e.g. bar_format='{{desc}} {{n_fmt}}/{{total_fmt}} {{postfix}}'."
            )
        if not isinstance(force, bool):
            raise TypeError(f"force must be True or False, got force={force!r} ({type(force).__name__}).")
        if file is not None and not callable(getattr(file, "write", None)):
            raise TypeError(
                f"file must be a text stream with a write method (sys.stderr, an open file, io.StringIO), "
                f"got {file!r} ({type(file).__name__})."
            )
        if isinstance(refresh_interval, bool) or not isinstance(refresh_interval, (int, float)):
            raise TypeError(f"refresh_interval must be a number of seconds, got refresh_interval={refresh_interval!r}.")
        if not refresh_interval > 0:
            raise ValueError(
                f"refresh_interval must be a positive number of seconds, got refresh_interval={refresh_interval}. "
                "Pass e.g. refresh_interval=0.1 (ten redraws a second)."
            )
        reserved = {"total", "initial", "leave", "disable", "mininterval", "miniters"} & set(tqdm_kwargs)
        if reserved:
            raise ValueError(
                f"tqdm_kwargs may not set {sorted(reserved)}: the ProgressBar sets them itself. Use its own "
                "arguments desc, persist, file, force and refresh_interval instead."
            )
        self._tqdm = _bar_class()
        self.desc = desc
        self.persist = persist
        self.bar_format = bar_format
        self.file = file
        self.force = force
        self.refresh_interval = float(refresh_interval)
        self.tqdm_kwargs = tqdm_kwargs
        self.bar: Any = None
        self._engine: weakref.ref[Engine] | None = None
        self._output_transform: Callable[[Any], Any] = _default_output_transform
        self._metric_names: Sequence[str] | str | None = None
        self._state_attributes: Sequence[str] = ()
        self._event: Any = Events.ITERATION_COMPLETED
        self._closing_event: Any = Events.EPOCH_COMPLETED
        self._stream: TextIO | None = None
        self._epoch_start = 0
        self._opened = (0, 0)  # (epoch, iteration before its first) of the last bar opened
        self._scheduled = False
        self._last_check = (0, 0.0)
        self._hop = 1
        self._last_draw = 0.0

    def log_message(self, message: str) -> None:
        """Write ``message`` on a line of its own above the bar, which is redrawn below it.

        As in ignite, it goes to the ``file`` given to the constructor, else to ``sys.stdout`` (tqdm's
        default), even though the bar itself is drawn on ``sys.stderr``: so ``python train.py > log.txt``
        keeps the messages and drops the bar. It is written on rank 0 only under
        ``torch.distributed``, and even where the bar itself is not drawn.
        """
        from ember.distributed import get_rank

        if get_rank() != 0:
            return
        self._tqdm.write(str(message), file=self.file if self.file is not None else sys.stdout)

    def attach(
        self,
        engine: Engine,
        metric_names: Sequence[str] | str | None = None,
        output_transform: Callable[[Any], Any] | None = None,
        event_name: Any = Events.ITERATION_COMPLETED,
        closing_event_name: Any = Events.EPOCH_COMPLETED,
        state_attributes: Sequence[str] | None = None,
    ) -> None:
        """Draw ``engine``'s epochs.

        Args:
            engine: the engine whose progress to draw.
            metric_names: names in ``engine.state.metrics`` to show, or ``"all"``; a name that
                is not (yet) there is left out.
            output_transform: turns ``engine.state.output`` into what to show: a number (shown
                as ``loss``) or a dict of names to numbers, 1-D tensors or strings. By default a
                number or one-element tensor output is shown as ``loss``, and a dict output
                shows its number entries.
            event_name: the event that advances the bar (ignite's argument). The default,
                ``ITERATION_COMPLETED``, is drawn at a bounded rate at almost no cost per
                iteration; another event (``ITERATION_COMPLETED(every=100)``,
                ``EPOCH_COMPLETED`` ...) advances the bar each time it fires.
            closing_event_name: the event that closes the bar: ``EPOCH_COMPLETED`` (default,
                one bar per epoch) or ``COMPLETED`` (one bar for the run, e.g. a bar of epochs
                with ``event_name=Events.EPOCH_COMPLETED``). It may not be filtered.
            state_attributes: names of ``engine.state`` attributes to show as well (e.g. a
                value a scheduler stores there).

        Raises:
            TypeError: a wrong type for an argument.
            ValueError: an event that is not registered, a filtered closing event, or a closing
                event that fires before ``event_name``.
            RuntimeError: the bar is already attached (use one ProgressBar per engine).
        """
        check_attach(
            "ProgressBar",
            engine,
            already=is_attached(self._engine),
            where="an engine",
            consequence="draw its progress twice",
            fix="A bar draws one engine's progress: create another ProgressBar for another engine "
            "(e.g. ProgressBar(desc='Validation')).",
        )
        if metric_names is not None and metric_names != "all":
            if isinstance(metric_names, str) or not isinstance(metric_names, Sequence):
                raise TypeError(
                    f"metric_names must be a list of metric names or 'all', got {metric_names!r}. "
                    "Pass e.g. metric_names=['accuracy']."
                )
            wrong = [name for name in metric_names if not isinstance(name, str)]
            if wrong:
                raise TypeError(f"metric_names must hold strings (keys of engine.state.metrics), got {wrong!r}.")
        if output_transform is not None:
            check_callable(
                output_transform, "output_transform", "output_transform(output)", "lambda output: {'loss': output}"
            )
        if state_attributes is not None and (
            isinstance(state_attributes, str)
            or not isinstance(state_attributes, Sequence)
            or not all(isinstance(name, str) for name in state_attributes)
        ):
            raise TypeError(
                f"state_attributes must be a list of engine.state attribute names, got {state_attributes!r}. "
                "Pass e.g. state_attributes=['lr']."
            )
        self._check_events(engine, event_name, closing_event_name)
        from ember.distributed import get_rank

        self._engine = weakref.ref(engine)
        self._metric_names = metric_names
        self._output_transform = output_transform or _default_output_transform
        self._state_attributes = tuple(state_attributes or ())
        self._event, self._closing_event = event_name, closing_event_name
        if get_rank() != 0:
            return  # one bar per job: only rank 0 draws, other ranks pay nothing
        if self.file is not None:
            stream = self.file
        else:
            stream = sys.stderr
            if not self.force and not _is_terminal(stream):
                return
        self._stream = stream
        if event_name is Events.ITERATION_COMPLETED and closing_event_name is Events.EPOCH_COMPLETED:
            engine.add_event_handler(Events.STARTED, self._on_started)
            engine.add_event_handler(Events.EPOCH_STARTED, self._on_epoch_started)
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
            engine.add_event_handler(Events.INTERRUPT, self._on_interrupt)
            engine.add_event_handler(Events.COMPLETED, self._on_completed)
        else:
            engine.add_event_handler(event_name, self._on_event)
            engine.add_event_handler(closing_event_name, self._on_closing_event)
            if closing_event_name is not Events.COMPLETED:
                engine.add_event_handler(Events.COMPLETED, self._on_closing_event)  # a terminated run
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._on_exception)

    @staticmethod
    def _check_events(engine: Engine, event_name: Any, closing_event_name: Any) -> None:
        base = event_name.event if isinstance(event_name, FilteredEvent) else event_name
        if not engine.has_registered_events(base):
            raise ValueError(
                f"event_name={event_name!r} is not an event registered on this engine. Pass a member of Events, "
                "e.g. Events.ITERATION_COMPLETED or Events.ITERATION_COMPLETED(every=100)."
            )
        if isinstance(closing_event_name, FilteredEvent):
            raise ValueError(
                f"closing_event_name={closing_event_name!r} is a filtered event; the bar must close every time. "
                "Pass Events.EPOCH_COMPLETED or Events.COMPLETED."
            )
        if not engine.has_registered_events(closing_event_name):
            raise ValueError(
                f"closing_event_name={closing_event_name!r} is not an event registered on this engine. "
                "Pass Events.EPOCH_COMPLETED or Events.COMPLETED."
            )
        ordered = base in _EVENT_ORDER and closing_event_name in _EVENT_ORDER
        if ordered and _EVENT_ORDER.index(base) >= _EVENT_ORDER.index(closing_event_name):
            raise ValueError(
                f"The bar advances on {base.name} but closes on {closing_event_name.name}, which does not come "
                "after it. Pass a closing_event_name that fires later, e.g. Events.EPOCH_COMPLETED or "
                "Events.COMPLETED."
            )

    # ------------------------------------------------------------------ handlers

    def _on_started(self, engine: Engine) -> None:
        self._schedule(engine, engine.state.iteration + 1, hop=1)

    def _on_epoch_started(self, engine: Engine) -> None:
        self._close()
        self._open(engine, engine.state.iteration)
        self._schedule(engine, engine.state.iteration + 1, hop=1)

    def _check(self, engine: Engine) -> None:
        """Runs on the scheduled iteration: redraw if due, then schedule the next check."""
        now = time.perf_counter()
        iteration = engine.state.iteration
        if self.bar is None:  # resumed in the middle of an epoch: no EPOCH_STARTED came
            state = engine.state
            epoch, start = self._opened
            length = state.epoch_length
            if epoch != state.epoch:
                start = (state.epoch - 1) * length if length and state.epoch else iteration - 1
            self._open(engine, start)
        if now - self._last_draw >= 0.5 * self.refresh_interval:
            self._draw(engine, iteration)
            self._last_draw = now
        last_iteration, last_time = self._last_check
        hop = self._hop
        if iteration > last_iteration and now > last_time:
            seconds_per_iteration = (now - last_time) / (iteration - last_iteration)
            hop = max(1, min(_MAX_GROWTH * self._hop, int(self.refresh_interval / seconds_per_iteration)))
        self._last_check = (iteration, now)
        self._schedule(engine, iteration + hop, hop)

    def _on_epoch_completed(self, engine: Engine) -> None:
        if self.bar is not None:
            self._draw(engine, engine.state.iteration)
        self._close()

    def _on_interrupt(self, engine: Engine) -> None:
        # The pending check stays registered: when run() resumes, it reopens the bar.
        self._on_epoch_completed(engine)

    def _on_completed(self, engine: Engine) -> None:
        self._on_epoch_completed(engine)  # a terminated run leaves its epoch's bar open
        self._unschedule(engine)

    def _on_exception(self, engine: Engine, exception: BaseException) -> None:
        self._close()
        self._unschedule(engine)

    def _on_event(self, engine: Engine) -> None:
        """Advance the bar for ``event_name`` (any event other than the default)."""
        event = self._event.event if isinstance(self._event, FilteredEvent) else self._event
        state = engine.state
        if event in (Events.ITERATION_STARTED, Events.ITERATION_COMPLETED):
            total, count = state.epoch_length, state.iteration
        elif event in (Events.EPOCH_STARTED, Events.EPOCH_COMPLETED):
            total, count = state.max_epochs, state.epoch
        else:
            total, count = None, (self.bar.n + 1 if self.bar is not None else 1)
        if total:
            count = (count - 1) % total + 1
        if self.bar is None:
            self.bar = self._tqdm(
                total=total,
                initial=0,
                desc=self._closing_label(engine),
                file=self._stream,
                leave=self.persist,
                mininterval=self.refresh_interval,
                bar_format=self.bar_format,
                **self.tqdm_kwargs,
            )
        bar = self.bar
        bar.set_description(self._closing_label(engine), refresh=False)
        postfix = self._postfix(engine)
        if postfix:
            bar.set_postfix(postfix, refresh=False)
        bar.update(count - bar.n)

    def _closing_label(self, engine: Engine) -> str:
        label = self.desc or "Epoch"
        epochs = _planned_epochs(engine.state)
        if self._closing_event is Events.EPOCH_COMPLETED and epochs is not None and epochs > 1:
            label = f"{label} [{engine.state.epoch}/{epochs}]"
        return label

    def _on_closing_event(self, engine: Engine) -> None:
        if self.bar is not None:
            self.bar.refresh()
        self._close()

    # ------------------------------------------------------------------ drawing

    def _open(self, engine: Engine, epoch_start: int) -> None:
        state = engine.state
        self._epoch_start = epoch_start
        self._opened = (state.epoch, epoch_start)
        total = state.epoch_length
        if total is not None and state.max_iters is not None:
            total = min(total, state.max_iters - epoch_start)
        label = self.desc or "Epoch"
        epochs = _planned_epochs(state)
        if epochs is not None and epochs > 1:
            label = f"{label} [{state.epoch}/{epochs}]"
        self.bar = self._tqdm(
            total=total,
            initial=max(0, state.iteration - epoch_start),
            desc=label,
            file=self._stream,
            leave=self.persist,
            mininterval=0.0,  # the bar decides itself when to draw
            miniters=1,
            bar_format=self.bar_format,
            **self.tqdm_kwargs,
        )
        self._last_draw = time.perf_counter()
        self._last_check = (state.iteration, self._last_draw)

    def _draw(self, engine: Engine, iteration: int) -> None:
        bar = self.bar
        postfix = self._postfix(engine)
        if postfix:
            bar.set_postfix(postfix, refresh=False)
        done = iteration - self._epoch_start
        if done > bar.n:
            bar.update(done - bar.n)
        else:
            bar.refresh()

    def _postfix(self, engine: Engine) -> dict[str, Any]:
        postfix: dict[str, Any] = {}
        shown = self._output_transform(engine.state.output)
        if isinstance(shown, Mapping):
            for key, value in shown.items():
                entries = _entries(str(key), value)
                postfix.update(entries if entries else [(str(key), value)])
        elif shown is not None:
            number = _scalar(shown)
            if number is None:
                raise TypeError(
                    f"ProgressBar's output_transform returned {shown!r} ({type(shown).__name__}); expected a number "
                    "or a dict of names to numbers. Fix the output_transform passed to ProgressBar.attach."
                )
            postfix["loss"] = number
        metrics = engine.state.metrics
        names = metrics if self._metric_names == "all" else self._metric_names or ()
        for name in names:
            if name in metrics:
                entries = _entries(name, metrics[name])
                if entries and not (self._metric_names == "all" and isinstance(metrics[name], str)):
                    postfix.update(entries)
                elif self._metric_names != "all":
                    postfix[name] = metrics[name]
        for name in self._state_attributes:
            value = getattr(engine.state, name, None)
            entries = _entries(name, value)
            postfix.update(entries if entries else [(name, value)])
        return postfix

    @property
    def pbar(self) -> Any:
        """The open tqdm bar, or ``None`` between epochs (ignite's name for :attr:`bar`)."""
        return self.bar

    def close(self) -> None:
        """Close the open bar, if any (the engine's events close it anyway)."""
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.close()

    # ------------------------------------------------------------------ scheduling

    def _schedule(self, engine: Engine, iteration: int, hop: int) -> None:
        self._unschedule(engine)
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=iteration), self._check)
        self._scheduled = True
        self._hop = hop

    def _unschedule(self, engine: Engine) -> None:
        if self._scheduled:
            engine.remove_event_handler(self._check, Events.ITERATION_COMPLETED)
            self._scheduled = False


def _planned_epochs(state: Any) -> int | None:
    """How many epochs the run will have: ``max_epochs``, or what ``max_iters`` amounts to; None if unknown."""
    if state.max_epochs is not None:
        return int(state.max_epochs)
    if state.max_iters is not None and state.epoch_length:
        return -(-int(state.max_iters) // int(state.epoch_length))
    return None


_BAR_CLASSES: dict[Any, Any] = {}


def _bar_class() -> Any:
    """tqdm's bar without its monitor thread, which only tunes ``miniters``: this bar sets them itself.

    A background thread started by a handler would be a surprise (and a hazard for code that forks).
    The subclass shares tqdm's list of open bars, so it stacks correctly with the user's own bars.
    """
    try:
        from tqdm import tqdm
    except ImportError:
        raise ImportError(
            "ProgressBar draws with tqdm, which is not installed. Install it with "
            "`pip install 'ember[progress]'` (or `pip install tqdm`)."
        ) from None
    if tqdm not in _BAR_CLASSES:
        _BAR_CLASSES[tqdm] = type("EmberTqdm", (tqdm,), {"monitor_interval": 0, "__module__": __name__})
    return _BAR_CLASSES[tqdm]


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False
