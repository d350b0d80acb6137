"""A tqdm progress bar for an engine's epochs, cheap enough to leave on.

How it stays cheap: the bar is not a handler of every iteration. It registers itself on
``ITERATION_COMPLETED(once=n)`` for one upcoming iteration ``n`` only, and when that fires it measures
the iteration rate and moves its registration to the iteration expected about ``refresh_interval``
seconds later (at most twice as far as the last hop, so a slowdown is noticed soon). The engine skips
filtered handlers on the iterations where they do not fire, so between two refreshes the bar costs
the loop nothing; each refresh costs a few tens of microseconds.
"""

from __future__ import annotations

import numbers
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import torch

from ember.engine import Engine, Events

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
        desc: the bar's label (default ``"Epoch"``); with more than one epoch it reads
            ``"Epoch [2/5]"``. Give an evaluator's bar its own label, e.g. ``"Validation"``.
        persist: keep each finished bar on screen. ``None`` (default) keeps top-level bars and
            removes nested ones, such as an evaluator's bar drawn below the training bar.
        file: where to write (default ``sys.stderr``, looked up at ``attach``).
        force: write even when ``file`` is not a terminal (a log file, a notebook, a ``StringIO``).
            Without it, a bar attached to an output that is not a terminal writes nothing and
            attaches no handler.
        refresh_interval: seconds between redraws (at most about twice as often while the bar
            learns how fast iterations go at the start of each epoch).
        **tqdm_kwargs: passed to :class:`tqdm.tqdm` (e.g. ``ncols``, ``bar_format``, ``ascii``).

    Under ``torch.distributed`` only rank 0 draws; on other ranks :meth:`attach` attaches nothing.
    An evaluator run inside training gets its own ``ProgressBar``; tqdm places it below the
    training bar while both are open. Data without a length (``epoch_length`` unknown) gets a bar
    that counts iterations and shows their rate, without a total or ETA.

    The bar keeps no state of its own to checkpoint: where it stands comes from the engine's state.

    Example::

        ProgressBar().attach(trainer, metric_names=["accuracy"])
        ProgressBar(desc="Validation").attach(evaluator)

    >>> import io
    >>> engine = Engine(lambda engine, batch: 0.5)
    >>> stream = io.StringIO()
    >>> ProgressBar(file=stream, force=True).attach(engine)
    >>> _ = engine.run(range(4))
    >>> "4/4" in stream.getvalue() and "loss=0.5" in stream.getvalue()
    True
    """

    def __init__(
        self,
        desc: str | None = None,
        persist: bool | None = None,
        file: TextIO | None = None,
        force: bool = False,
        refresh_interval: float = 0.1,
        **tqdm_kwargs: Any,
    ) -> None:
        if desc is not None and not isinstance(desc, str):
            raise TypeError(f"desc must be a string or None, got desc={desc!r} ({type(desc).__name__}).")
        if persist is not None and not isinstance(persist, bool):
            raise TypeError(f"persist must be True, False or None, got persist={persist!r}.")
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
        reserved = {"total", "initial", "desc", "file", "leave", "disable", "mininterval", "miniters"} & set(
            tqdm_kwargs
        )
        if reserved:
            raise ValueError(
                f"tqdm_kwargs may not set {sorted(reserved)}: the ProgressBar sets them itself. Use its own "
                "arguments desc, persist, file, force and refresh_interval instead."
            )
        self._tqdm = _bar_class()
        self.desc = desc or "Epoch"
        self.persist = persist
        self.file = file
        self.force = force
        self.refresh_interval = float(refresh_interval)
        self.tqdm_kwargs = tqdm_kwargs
        self.bar: Any = None
        self._engine: weakref.ref[Engine] | None = None
        self._output_transform: Callable[[Any], Any] = _default_output_transform
        self._metric_names: Sequence[str] | str | None = None
        self._stream: TextIO | None = None
        self._epoch_start = 0
        self._opened = (0, 0)  # (epoch, iteration before its first) of the last bar opened
        self._scheduled = False
        self._last_check = (0, 0.0)
        self._hop = 1
        self._last_draw = 0.0

    def attach(
        self,
        engine: Engine,
        metric_names: Sequence[str] | str | None = None,
        output_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        """Draw ``engine``'s epochs.

        Args:
            engine: the engine whose progress to draw.
            metric_names: names in ``engine.state.metrics`` to show, or ``"all"``; a name that
                is not (yet) there is left out.
            output_transform: turns ``engine.state.output`` into what to show: a number (shown
                as ``loss``) or a dict of names to numbers. By default a number or one-element
                tensor output is shown as ``loss``, and a dict output shows its number entries.

        Raises:
            TypeError: a wrong type for an argument.
            RuntimeError: the bar is already attached (use one ProgressBar per engine).
        """
        if not isinstance(engine, Engine):
            raise TypeError(f"ProgressBar.attach expects an ember Engine, got {engine!r} ({type(engine).__name__}).")
        if self._engine is not None and self._engine() is not None:
            raise RuntimeError(
                "This ProgressBar is already attached to an engine; a bar draws one engine's progress. "
                "Create another ProgressBar for another engine (e.g. ProgressBar(desc='Validation'))."
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
        if output_transform is not None and not callable(output_transform):
            raise TypeError(
                f"output_transform must be a function output -> number or dict of numbers, got {output_transform!r}."
            )
        from ember.distributed import get_rank

        self._engine = weakref.ref(engine)
        self._metric_names = metric_names
        self._output_transform = output_transform or _default_output_transform
        if get_rank() != 0:
            return  # one bar per job: only rank 0 draws, other ranks pay nothing
        stream = self.file if self.file is not None else sys.stderr
        if not self.force and not _is_terminal(stream):
            return
        self._stream = stream
        engine.add_event_handler(Events.STARTED, self._on_started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._on_epoch_started)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
        engine.add_event_handler(Events.INTERRUPT, self._on_interrupt)
        engine.add_event_handler(Events.COMPLETED, self._on_completed)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._on_exception)

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

    # ------------------------------------------------------------------ drawing

    def _open(self, engine: Engine, epoch_start: int) -> None:
        state = engine.state
        self._epoch_start = epoch_start
        self._opened = (state.epoch, epoch_start)
        total = state.epoch_length
        if total is not None and state.max_iters is not None:
            total = min(total, state.max_iters - epoch_start)
        label = self.desc
        if state.max_epochs is not None and state.max_epochs > 1:
            label = f"{label} [{state.epoch}/{state.max_epochs}]"
        self.bar = self._tqdm(
            total=total,
            initial=max(0, state.iteration - epoch_start),
            desc=label,
            file=self._stream,
            leave=self.persist,
            mininterval=0.0,  # the bar decides itself when to draw
            miniters=1,
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
                number = _scalar(value)
                postfix[str(key)] = number if number is not None else value
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
                number = _scalar(metrics[name])
                if number is not None:
                    postfix[name] = number
                elif self._metric_names != "all":
                    postfix[name] = metrics[name]
        return postfix

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
