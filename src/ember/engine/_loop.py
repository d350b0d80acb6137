"""The run loop: starting or resuming a run, epochs, iterations, stops, data running out, exceptions.

:meth:`Engine.run <ember.engine.Engine.run>` checks its arguments and decides whether the run
starts or resumes (with the ``_prepare_*`` methods here); then :meth:`_RunLoop._run_loop` runs it.
``_next`` says what the loop does next, so a run stopped anywhere (``interrupt()``, an exception, a
saved state) goes on from there; ``_stop`` is the stop a handler asked for, honoured once the
handlers of the current event have run.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ember.engine._dispatch import (
    _GET_BATCH_COMPLETED,
    _GET_BATCH_STARTED,
    _ITERATION_COMPLETED,
    _ITERATION_STARTED,
    _PER_ITERATION_EVENTS,
    _describe,
    _HandlerTable,
    _parameters,
)
from ember.engine._lifecycle import _NEXT_AFTER, _misplaced_terminate_epoch, _Next, _Phase, _Stop, _StopSignal
from ember.engine.events import NEVER, Events
from ember.engine.passes import DataPasses
from ember.engine.passes import length_of as _length_of
from ember.engine.state import State

if TYPE_CHECKING:
    from ember.engine.engine import Engine

_NO_BATCH = object()


class _RunLoop(_HandlerTable):
    """How an engine runs; the part of :class:`~ember.engine.Engine` below its public methods.

    The engine's ``__init__`` sets the attributes declared here.
    """

    _process_function: Callable[[Any, Any], Any]
    _stop: _Stop
    _skip_completed: bool
    _phase: _Phase
    _next: _Next
    _interrupt_after_epoch: bool
    _data_passes: DataPasses
    _epoch_base: int | None
    _init_iter: int | None
    _resume_position: int | None
    _restarted_at: int
    _loaded_native: bool
    _epoch_start_time: float

    def _check_new_limits(self, max_epochs: int | None, max_iters: int | None) -> None:
        state = self.state
        if max_iters is not None and state.max_epochs is not None:
            raise ValueError(
                f"This engine's run is limited by max_epochs={state.max_epochs}, so run() cannot switch to "
                f"max_iters={max_iters}. Set engine.state.max_epochs = None before run() to start a new run "
                "limited by max_iters."
            )
        if max_epochs is not None and state.max_iters is not None:
            raise ValueError(
                f"This engine's run is limited by max_iters={state.max_iters}, so run() cannot switch to "
                f"max_epochs={max_epochs}. Set engine.state.max_iters = None before run() to start a new run "
                "limited by max_epochs."
            )
        if state.max_epochs is not None and max_epochs is not None and max_epochs < state.epoch:
            raise ValueError(
                f"max_epochs={max_epochs} is smaller than the epoch this engine already reached ({state.epoch}). "
                f"Pass max_epochs >= {state.epoch} to continue the run, or set engine.state.max_epochs = None "
                "before run() to start a new one."
            )
        if state.max_iters is not None and max_iters is not None and max_iters < state.iteration:
            raise ValueError(
                f"max_iters={max_iters} is smaller than the iteration this engine already reached "
                f"({state.iteration}). Pass max_iters >= {state.iteration} to continue the run, or set "
                "engine.state.max_iters = None before run() to start a new one."
            )

    def _limit_text(self) -> str:
        state = self.state
        limit = f"max_iters={state.max_iters}" if state.max_iters is not None else f"max_epochs={state.max_epochs}"
        return f"{limit}, epoch_length={state.epoch_length}"

    def _prepare_new_run(
        self, data: Iterable[Any] | None, max_epochs: int | None, max_iters: int | None, epoch_length: int | None
    ) -> None:
        state = self.state
        if data is None and epoch_length is None and state.epoch_length is None:
            raise ValueError(
                "run() without data needs epoch_length, the number of iterations per epoch, e.g. "
                "engine.run(epoch_length=100). Or pass the data to iterate over."
            )
        if epoch_length is None:
            epoch_length = _length_of(data)
            if epoch_length == 0:
                raise ValueError(
                    f"data is empty ({type(data).__name__} of length 0): there is nothing to run. "
                    "Pass data with at least one batch."
                )
            if epoch_length is None:  # as in pytorch-ignite, a new run keeps the epoch length it knew
                epoch_length = state.epoch_length
                if epoch_length == 0:
                    raise ValueError(
                        "The previous run found no batch in its data (epoch_length 0), and this data has no length. "
                        "Pass data with at least one batch, or epoch_length."
                    )
        # as in pytorch-ignite, output, batch and metrics carry over: a trainer-side handler may read the
        # metrics of the evaluator's previous run
        state.iteration = state.epoch = 0
        state.epoch_length = epoch_length
        state.max_iters = max_iters
        state.max_epochs = (max_epochs or 1) if max_iters is None else None
        self._next = _Next.EPOCH
        self._epoch_base = self._init_iter = None
        self._resume_position = 0
        self._loaded_native = False

    def _prepare_resume(self, data: Iterable[Any] | None, epoch_length: int | None, terminated: bool) -> None:
        state = self.state
        if state.epoch_length is not None:
            if epoch_length is not None and epoch_length != state.epoch_length:
                raise ValueError(
                    f"epoch_length={epoch_length} differs from the resumed run's epoch_length={state.epoch_length}. "
                    "Leave epoch_length out when resuming (or pass the same value)."
                )
        else:
            if epoch_length is None and data is not None:
                epoch_length = _length_of(data)
                if epoch_length == 0:
                    raise ValueError(
                        f"data is empty ({type(data).__name__} of length 0): there is nothing to run. "
                        "Pass data with at least one batch."
                    )
            state.epoch_length = epoch_length
        if state.epoch_length is None and data is None and self._data_passes.iterator is None:
            raise ValueError("Resuming a run needs its data (or epoch_length for a run without data).")
        if terminated:  # the next epoch starts at its first iteration, as in pytorch-ignite
            self._init_iter = 0

    def _is_done(self) -> bool:
        """Whether the counters reached the run's limits (pytorch-ignite's rule)."""
        state = self.state
        if state.max_iters is not None and state.iteration >= state.max_iters:
            return True
        if state.max_epochs is None:
            return False
        if state.epoch_length is not None and state.iteration >= state.epoch_length * state.max_epochs:
            return True
        return state.epoch >= state.max_epochs

    def _run_loop(self, fire_started: bool) -> State:
        state = self.state
        self._phase = _Phase.RUNNING
        if fire_started:
            self._stop = _Stop.NONE
            self._interrupt_after_epoch = False
        self._trace = self.logger.isEnabledFor(logging.DEBUG)
        for slot in range(4):
            self._refresh_due(slot)
        run_start = time.perf_counter()
        if self._next is not _Next.EPOCH:  # resuming within an epoch: time the rest of it
            self._epoch_start_time = run_start
        try:
            try:
                if fire_started:
                    state.times = {"EPOCH_COMPLETED": None, "COMPLETED": None}
                    self._fire_starting_event(Events.STARTED)
                while self._next is not _Next.EPOCH or not self._is_done():
                    self._run_epoch()
            except _StopSignal as signal:
                if signal.kind is _Stop.INTERRUPT:
                    self._phase = _Phase.INTERRUPTED
                    self._fire(Events.INTERRUPT)
                    return state
                self._phase = _Phase.TERMINATED
                self._next = _Next.EPOCH
                self._data_passes.close()
                self._fire(Events.TERMINATE)
                if signal.skip_completed:
                    return state
            else:
                self._phase = _Phase.FINISHED
            self._data_passes.close()  # a later run starts a new pass over its data, as in pytorch-ignite
            state.times["COMPLETED"] = time.perf_counter() - run_start
            self._fire(Events.COMPLETED)
            state.times["COMPLETED"] = elapsed = time.perf_counter() - run_start
            self.logger.info(
                "Engine run finished at iteration %d, epoch %d, in %.3f s.", state.iteration, state.epoch, elapsed
            )
            return state
        except (Exception, KeyboardInterrupt) as error:
            self._phase = _Phase.FAILED
            self._keep_position_after_failure()
            if not self._handle_exception(error):
                raise
            return state
        finally:
            if self._phase is _Phase.RUNNING:
                self._phase = _Phase.FINISHED
            if self._phase is not _Phase.INTERRUPTED:
                self._stop = _Stop.NONE

    def _run_epoch(self) -> None:
        """Run (the rest of) one epoch: EPOCH_STARTED, its iterations, EPOCH_COMPLETED."""
        state = self.state
        skip_completed = False
        try:
            if self._next is _Next.EPOCH:
                state.epoch += 1
                self._epoch_start_time = time.perf_counter()
                self._next = _Next.BATCH
                self._epoch_base = None
                self._fire_starting_event(Events.EPOCH_STARTED)
            if self._epoch_base is None:
                self._start_epoch_part()
            self._run_iterations()
        except _StopSignal as signal:
            if signal.kind is not _Stop.EPOCH:
                raise
            skip_completed = signal.skip_completed
            self._next = _Next.EPOCH
            self._fire(Events.TERMINATE_SINGLE_EPOCH, state.iteration - (self._epoch_base or 0))
            self._open_pass()  # as in pytorch-ignite, the next epoch starts a new pass over the data
        self._next = _Next.EPOCH
        self._epoch_base = None
        state.times["EPOCH_COMPLETED"] = time.perf_counter() - self._epoch_start_time
        if not skip_completed:
            self._fire(Events.EPOCH_COMPLETED)
            state.times["EPOCH_COMPLETED"] = time.perf_counter() - self._epoch_start_time
        if self._stop is _Stop.EPOCH:
            self._stop = _Stop.NONE  # asked for at the end of an epoch: that epoch is over anyway
        if self._interrupt_after_epoch:
            self._interrupt_after_epoch = False
            if not self._stop:
                self._stop = _Stop.INTERRUPT
        self.logger.info("Epoch %d complete in %.3f s.", state.epoch, state.times["EPOCH_COMPLETED"])
        if self._stop:
            self._raise_stop()

    def _run_iterations(self) -> None:
        """Run the iterations of the current epoch; returns when the epoch's last one is done."""
        state = self.state
        due = self._due
        fire = self._fire_per_iteration
        process = self._process_function
        passes = self._data_passes
        epoch_length = state.epoch_length
        base = self._epoch_base or 0
        end = NEVER if epoch_length is None else base + epoch_length
        max_iters = state.max_iters
        if self._next is _Next.COUNT or self._next is _Next.PROCESS:
            self._finish_fetched_iteration()
        it = state.iteration
        fetch_only = self._next is _Next.FETCH
        if self._next is _Next.ITERATION_END and it in (end, max_iters):  # resumed after the epoch's last iteration
            self._epoch_or_run_ends(it, end)
            return
        # as in pytorch-ignite, the epoch ends when its iteration count *equals* epoch_length (the run when the
        # iteration equals max_iters): a limit already passed (epoch_length learned late) is never reached
        stop_at = min((limit for limit in (end, max_iters) if limit is not None and limit > it), default=NEVER)
        self._next = _Next.BATCH
        while True:
            if fetch_only:
                fetch_only = False
            else:
                state.batch = None
                if it >= due[_GET_BATCH_STARTED]:
                    fire(_GET_BATCH_STARTED, it)
            try:
                batch = next(passes.iterator)  # type: ignore[arg-type]  # opened by _start_epoch_part
            except StopIteration:
                state.batch = None
                if self._pass_ran_out():
                    return
                fetch_only = True  # no GET_BATCH_STARTED right after DATALOADER_STOP_ITERATION, as in pytorch-ignite
                continue
            state.batch = batch
            state.output = None  # as in pytorch-ignite: a fetched batch has no output yet
            if it >= due[_GET_BATCH_COMPLETED]:
                fire(_GET_BATCH_COMPLETED, it)
            it += 1
            state.iteration = it
            if it >= due[_ITERATION_STARTED]:
                fire(_ITERATION_STARTED, it)
            state.output = process(self, state.batch)
            if it >= due[_ITERATION_COMPLETED]:
                fire(_ITERATION_COMPLETED, it)
            if self._stop:
                self._next = _Next.ITERATION_END
                self._raise_stop()
            if it >= stop_at:
                self._epoch_or_run_ends(it, end)
                return

    def _finish_fetched_iteration(self) -> None:
        """Resume an iteration interrupted after its batch was fetched: count it, process it."""
        state = self.state
        if self._next is _Next.COUNT:
            state.iteration += 1
            self._next = _Next.PROCESS
            if state.iteration >= self._due[_ITERATION_STARTED]:
                self._fire_per_iteration(_ITERATION_STARTED, state.iteration)
        self._next = _Next.ITERATION_END
        state.output = self._process_function(self, state.batch)
        if state.iteration >= self._due[_ITERATION_COMPLETED]:
            self._fire_per_iteration(_ITERATION_COMPLETED, state.iteration)
        if self._stop:
            self._raise_stop()

    def _epoch_or_run_ends(self, iteration: int, epoch_end: int) -> None:
        """The epoch's last iteration ran (return), or ``max_iters`` was reached within it (terminate)."""
        if iteration != epoch_end:
            # as in pytorch-ignite: max_iters within an epoch ends the run as terminate() does
            raise _StopSignal(_Stop.RUN)

    def _fire_per_iteration(self, slot: int, count: int) -> None:
        """Fire a per-iteration event whose due count was reached, then move its due count on."""
        dispatch = self._per_iteration[slot]
        self._last_fired = (_PER_ITERATION_EVENTS[slot], self.state.iteration)
        if self._trace:
            self._log_event(_PER_ITERATION_EVENTS[slot])
        if dispatch.calls is not None:
            for call in dispatch.calls:
                call(self)
        else:
            dispatch.call_due(self, count, ())
            if self._per_iteration[slot] is dispatch:  # unless a handler changed the handlers
                # GET_BATCH_STARTED may fire twice at one count (the data ran out at an epoch's end)
                self._due[slot] = 0 if self._trace else dispatch.next_due(count + (slot != _GET_BATCH_STARTED))
        if self._stop:
            self._next = _NEXT_AFTER[slot]
            self._raise_stop()

    def _fire_starting_event(self, event: Any) -> None:
        """Fire ``STARTED`` / ``EPOCH_STARTED``, where ``terminate_epoch()`` has no epoch to end (as pytorch-ignite)."""
        self._fire(event)
        if self._stop is _Stop.EPOCH:
            self._stop = _Stop.NONE
            self._interrupt_after_epoch = False
            raise _misplaced_terminate_epoch(f"a handler of {event.name}")
        if self._stop:
            self._raise_stop()

    def _raise_stop(self) -> None:
        kind, self._stop = self._stop, _Stop.NONE
        raise _StopSignal(kind, self._skip_completed)

    def _refresh_data_due(self) -> None:
        for slot in (_GET_BATCH_STARTED, _GET_BATCH_COMPLETED):
            self._refresh_due(slot)

    def _open_pass(self, position: int = 0) -> None:
        """Start a new pass over ``state.dataloader`` (used from there on, as in pytorch-ignite)."""
        state = self.state
        self._data_passes.open(state.dataloader, state.iteration, state.epoch, position, self.logger)
        self._refresh_data_due()

    def _start_epoch_part(self) -> None:
        """Set up the counting of the epoch's iterations, opening a pass over the data if none is open.

        As in pytorch-ignite, a run's first epoch (resumed or not) opens a new pass and counts
        ``iteration % epoch_length`` iterations as run already; later epochs go on with the pass.
        """
        state = self.state
        if self._data_passes.iterator is None:
            position = self._resume_position
            length = _length_of(state.dataloader)
            if position is None:  # no saved position: the pass is where the iteration falls in it
                position = state.iteration % length if length else 0
            elif length:  # a pass used up when saved: a new one (drawing its shuffle once, as ignite's resume)
                position %= length
            self._resume_position = 0
            if self._next is _Next.COUNT or self._next is _Next.PROCESS:
                self._refetch_batch(position)
            else:
                self._open_pass(position)
            if self._init_iter is None:
                self._init_iter = state.iteration % state.epoch_length if state.epoch_length else state.iteration
        self._epoch_base = state.iteration - (self._init_iter or 0)
        self._init_iter = None
        self._restarted_at = -1

    def _refetch_batch(self, position: int) -> None:
        """A run resumed from a state saved after its batch was fetched: open the pass at that batch, fetch it again.

        No event fires. Once it is fetched, :meth:`_batch_refetched` lets a subclass restore what was
        saved after the fetch (DeterministicEngine: the random state).
        """
        counted = self._next is _Next.PROCESS  # the batch's iteration is counted in state.iteration already
        self.state.iteration -= counted  # the pass opens as it did, before that iteration
        try:
            self._open_pass(position)
            batch = next(self._data_passes.iterator, _NO_BATCH)  # type: ignore[arg-type]  # just opened
        finally:
            self.state.iteration += counted
        if batch is _NO_BATCH:
            raise ValueError(
                f"The resumed run's next batch is batch {position} of its pass over the data, but the data has "
                f"no more than {position} batches. Resume with the data the state was saved with."
            )
        self.state.batch, self.state.output = batch, None
        self._batch_refetched()

    def _batch_refetched(self) -> None:
        """Called once a resumed run has fetched again the batch it had fetched when its state was saved."""

    def _refetching(self) -> bool:
        """Whether the pass being opened is that of a resumed run about to fetch again its saved batch."""
        return self._next is _Next.COUNT or self._next is _Next.PROCESS

    def _pass_ran_out(self) -> bool:
        """The pass over the data ended before the epoch did; returns whether the epoch ends here.

        Data without a length ends its first epoch here (the epoch length is learned). Otherwise
        ``DATALOADER_STOP_ITERATION`` fires and a new pass starts, unless the previous one was just
        started: then the data can give no more batches, and the epoch ends with a warning.
        """
        state = self.state
        restarted = self._restarted_at == state.iteration  # no batch came from the pass started last
        if state.epoch_length is None:
            epoch_length = state.iteration - (self._epoch_base or 0)
            if epoch_length == 0:
                message = (
                    "The data ran out before this epoch's first batch, so its length is taken as 0 and the run "
                    "does nothing more (as pytorch-ignite). Pass data with at least one batch, or epoch_length."
                )
                warnings.warn(message, UserWarning, stacklevel=6)
                self.logger.warning(message)
            state.epoch_length = epoch_length
            if state.max_iters is not None and epoch_length == 0:
                raise ValueError(
                    "The data ran out before this epoch's first batch, so no number of epochs reaches max_iters. "
                    "Pass data with at least one batch (pytorch-ignite divides by zero here)."
                )
            if state.max_iters is not None:  # as in pytorch-ignite
                state.max_epochs = -(-state.max_iters // epoch_length)
            return True
        if restarted:
            if not self._is_done():
                message = (
                    f"The data can provide no more batches (a new pass over it yielded nothing) at iteration "
                    f"{state.iteration}, before the run's end; the epoch ends here. Pass data that can be iterated "
                    "again (a list, a DataLoader) rather than an iterator, or a smaller max_epochs/max_iters."
                )
                warnings.warn(message, UserWarning, stacklevel=6)
                self.logger.warning(message)
            return True
        if state.dataloader is not None:
            self._fire(Events.DATALOADER_STOP_ITERATION)
        self._open_pass()
        self._restarted_at = state.iteration
        if self._stop:
            self._next = _Next.BATCH  # as in pytorch-ignite, a resumed run fires GET_BATCH_STARTED again
            self._raise_stop()
        return False

    def _keep_position_after_failure(self) -> None:
        """An exception ended the run: note where the epoch and the data stood, so that ``run()`` goes on from there."""
        state = self.state
        if self._next is not _Next.EPOCH:
            fetched = self._next is _Next.PROCESS  # counted in state.iteration already: that batch is fetched again
            if self._data_passes.iterator is not None:
                self._resume_position = self._data_passes.position(state.iteration) - fetched
            if self._epoch_base is not None:
                self._init_iter = state.iteration - self._epoch_base
            self._next = _Next.ITERATION_END
        self._epoch_base = None
        self._data_passes.close()

    def _handle_exception(self, error: BaseException) -> bool:
        """Call every ``EXCEPTION_RAISED`` handler; return whether one of them handled the error.

        A handler has handled it when it called ``terminate()`` or ``interrupt()``. Failures of
        handlers are noted on ``error``.
        """
        self.logger.error("Engine run stopped by %s: %s", type(error).__name__, error)
        self._last_fired = (Events.EXCEPTION_RAISED, self.state.iteration)
        dispatch = self._dispatch.get(Events.EXCEPTION_RAISED)
        if dispatch is None:
            return False
        self._stop = _Stop.NONE
        for entry in dispatch.entries:
            try:
                entry.call(self, error)
            except Exception as handler_error:  # every handler runs; their failures ride on the original error
                if handler_error is error:  # pytorch-ignite's idiom re-raises the exception it was given
                    continue
                self.logger.exception("EXCEPTION_RAISED handler %s failed", _describe(entry.handler))
                if hasattr(error, "add_note"):
                    error.add_note(
                        f"While handling it, EXCEPTION_RAISED handler {_describe(entry.handler)} raised "
                        f"{type(handler_error).__name__}: {handler_error}"
                    )
        stop, self._stop = self._stop, _Stop.NONE
        if stop is _Stop.INTERRUPT:
            self._phase = _Phase.INTERRUPTED
        elif stop is _Stop.RUN:
            self._phase = _Phase.TERMINATED
            self._next = _Next.EPOCH
            self._resume_position = 0
        else:
            return False
        self.logger.info("An EXCEPTION_RAISED handler called %s: the run ends without re-raising.", stop.name.lower())
        return True


def _output_the_batch(engine: Engine, batch: Any) -> Any:
    return batch


def _check_process_function(process_function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(process_function)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"process_function {_describe(process_function)} has parameters {_parameters(signature)} but is called as "
            "process_function(engine, batch). Give it two parameters, e.g. def step(engine, batch): ..."
        ) from None
