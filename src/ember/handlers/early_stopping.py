"""Early stopping: end training when a score has stopped improving for ``patience`` evaluations.

The decision lives in :class:`Patience`, a small pure object that takes scores and answers
"stop?"; :class:`EarlyStopping` only wires it to an engine's events and to the trainer (it keeps its
``Patience`` as ``handler.decision``; ``handler.patience`` is the number, as in ignite).
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch

from ember import distributed
from ember.engine import Engine, Events
from ember.handlers._attach import check_attach, check_callable

__all__ = ["EarlyStopping", "Patience"]

# Every rank numbers its EarlyStopping score exchanges alike (they are collectives: all ranks make the same ones,
# in the same order), so the number names one meeting of the ranks in the process group's store.
_exchanges = itertools.count()


def _check_patience_arguments(
    patience: Any, min_delta: Any, cumulative_delta: Any, mode: Any = "max", threshold_mode: Any = "abs"
) -> None:
    if isinstance(patience, bool) or not isinstance(patience, int):
        raise TypeError(
            f"patience must be a whole number, got patience={patience!r} ({type(patience).__name__}). "
            "Pass the number of evaluations without improvement to wait, e.g. patience=5."
        )
    if patience < 1:
        raise ValueError(
            f"patience must be >= 1, got patience={patience}. Pass the number of evaluations without "
            "improvement to wait before stopping, e.g. patience=5."
        )
    if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
        raise TypeError(
            f"min_delta must be a number, got min_delta={min_delta!r} ({type(min_delta).__name__}). "
            "Pass the smallest increase of the score that counts as an improvement, e.g. min_delta=0.01."
        )
    if not math.isfinite(min_delta) or min_delta < 0:
        raise ValueError(
            f"min_delta must be a finite number >= 0, got min_delta={min_delta}. Pass 0.0 to count any "
            "increase of the score as an improvement, or a positive margin."
        )
    if not isinstance(cumulative_delta, bool):
        raise TypeError(
            f"cumulative_delta must be True or False, got cumulative_delta={cumulative_delta!r} "
            f"({type(cumulative_delta).__name__})."
        )
    if mode not in ("max", "min"):
        raise ValueError(
            f"mode must be 'max' or 'min', got mode={mode!r}. Pass mode='max' when a higher score is better "
            "(accuracy), mode='min' when a lower one is (a loss)."
        )
    if threshold_mode not in ("abs", "rel"):
        raise ValueError(
            f"threshold_mode must be 'abs' or 'rel', got threshold_mode={threshold_mode!r}. With 'abs' a score must "
            "beat the best by min_delta; with 'rel' by min_delta times the best."
        )


def _check_sync_timeout(sync_timeout: Any) -> float:
    if isinstance(sync_timeout, bool) or not isinstance(sync_timeout, numbers.Real):
        raise TypeError(
            f"sync_timeout must be a number of seconds, got {sync_timeout!r} ({type(sync_timeout).__name__}). "
            "Pass how long the ranks may wait for each other at an evaluation, e.g. sync_timeout=300."
        )
    if not math.isfinite(sync_timeout) or sync_timeout <= 0:
        raise ValueError(
            f"sync_timeout must be a positive, finite number of seconds, got sync_timeout={sync_timeout}. "
            "Pass how long the ranks may wait for each other at an evaluation, e.g. sync_timeout=300."
        )
    return float(sync_timeout)


class _ScoreShapeError(ValueError, RuntimeError):
    """A score that is a tensor or an array holding several values (or none), not one number.

    Both a ``ValueError`` and a ``RuntimeError``: ignite 0.5.5 fails on such a score with the error of
    the container's own truth test, numpy's ``ValueError`` or torch's ``RuntimeError``, so code that
    catches either one catches ember's too.
    """


def _check_score(score: Any, source: str) -> float:
    """Return ``score`` as a float, or explain why it cannot be compared.

    A Python, numpy or torch number (a bool counts as 0 or 1, as in ignite) and a tensor or array of one
    element are numbers; a tensor or array of another size is a ``ValueError`` that is also a
    ``RuntimeError`` (``_ScoreShapeError``); anything else is a ``TypeError``; NaN is a ``ValueError``.
    """
    size: Any
    if isinstance(score, torch.Tensor):
        size = score.numel()
    else:
        # numpy arrays and numpy scalars (size is an int attribute there; torch's is a method)
        size = getattr(score, "size", None) if callable(getattr(score, "item", None)) else None
    if isinstance(size, int):
        if size != 1:
            raise _ScoreShapeError(
                f"{source} must give one number, got {score!r} ({type(score).__name__}, {size} values). "
                "Reduce it to the one score to compare, e.g. return values.mean().item() or pick the metric's "
                "entry that measures the run."
            )
        score = score.item()
    if not isinstance(score, numbers.Real):
        raise TypeError(
            f"{source} must give a real number, got {score!r} ({type(score).__name__}). Return a float, "
            "e.g. lambda engine: engine.state.metrics['accuracy'] (negate a loss: higher scores are better)."
        )
    value = float(score)
    if math.isnan(value):
        raise ValueError(
            f"{source} gave nan, which cannot be compared with earlier scores. Check the metric it reads; "
            "stop the run on NaN outputs with TerminateOnNan."
        )
    return value


class Patience:
    """Counts evaluations without improvement of a score and says when to stop.

    Args:
        patience: how many evaluations in a row without improvement end the run.
        min_delta: the margin by which a score must beat the best one to count as an improvement
            (ignite 0.5.5 calls it ``threshold``).
        cumulative_delta: if True, a score that does not clear the margin never becomes the
            reference, so small gains add up against the same best score; if False (the default),
            such a score still becomes the best one if it is better, although it does not reset
            the count (ignite 0.5.5 calls it ``cumulative``).
        mode: ``"max"`` (default) when a higher score is better, ``"min"`` when a lower one is.
        threshold_mode: ``"abs"`` (default): with ``mode="max"`` a score improves when it is
            greater than ``best + min_delta`` (``mode="min"``: less than ``best - min_delta``);
            ``"rel"``: greater than ``best * (1 + min_delta)`` (``mode="min"``: less than
            ``best * (1 - min_delta)``).

    The first score is always an improvement. :meth:`step` returns whether to stop, and sets
    :attr:`improved` to whether that score was a new best.

    >>> patience = Patience(patience=2)
    >>> [patience.step(score) for score in [0.5, 0.6, 0.6, 0.55]]
    [False, False, False, True]
    >>> patience.best_score, patience.counter
    (0.6, 2)
    >>> losses = Patience(patience=1, min_delta=0.1, mode="min", threshold_mode="rel")
    >>> [losses.step(loss) for loss in [1.0, 0.85, 0.8]]  # 0.8 is not below 0.85 * 0.9
    [False, False, True]
    """

    def __init__(
        self,
        patience: int,
        min_delta: float = 0.0,
        cumulative_delta: bool = False,
        mode: Literal["max", "min"] = "max",
        threshold_mode: Literal["abs", "rel"] = "abs",
    ) -> None:
        _check_patience_arguments(patience, min_delta, cumulative_delta, mode, threshold_mode)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.cumulative_delta = cumulative_delta
        self.mode: Literal["max", "min"] = mode
        self.threshold_mode: Literal["abs", "rel"] = threshold_mode
        #: the best score seen so far (``None`` before the first score)
        self.best_score: float | None = None
        #: evaluations since the last improvement
        self.counter = 0
        #: whether the last score given to :meth:`step` was an improvement
        self.improved = False

    def _beats(self, score: float, best: float) -> bool:
        margin = self.min_delta if self.mode == "max" else -self.min_delta
        reference = best + margin if self.threshold_mode == "abs" else best * (1.0 + margin)
        return score > reference if self.mode == "max" else score < reference

    def step(self, score: float) -> bool:
        """Record ``score``; return True once ``patience`` scores in a row brought no improvement."""
        score = _check_score(score, "Patience.step's score")
        best = self.best_score
        if best is not None and not self._beats(score, best):
            if not self.cumulative_delta:
                self.best_score = max(score, best) if self.mode == "max" else min(score, best)
            self.counter += 1
            self.improved = False
        else:
            self.best_score = score
            self.counter = 0
            self.improved = True
        return self.counter >= self.patience

    def reset(self) -> None:
        """Forget every score, as before the first :meth:`step`."""
        self.best_score = None
        self.counter = 0
        self.improved = False

    def state_dict(self) -> dict[str, Any]:
        """The best score and the count, for checkpoints."""
        return {"best_score": self.best_score, "counter": self.counter}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict`.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict expects a mapping, got {type(state_dict).__name__}. "
                "Pass a dict saved by Patience.state_dict() or EarlyStopping.state_dict()."
            )
        missing = sorted({"best_score", "counter"} - set(state_dict))
        if missing:
            raise ValueError(
                f"The state dict misses the keys {missing} (it has {sorted(state_dict)}). "
                "Pass a dict saved by Patience.state_dict() or EarlyStopping.state_dict()."
            )
        counter, best = state_dict["counter"], state_dict["best_score"]
        if isinstance(counter, bool) or not isinstance(counter, int) or counter < 0:
            raise ValueError(
                f"state_dict['counter'] must be a whole number >= 0, got {counter!r}. "
                "Pass a dict saved by Patience.state_dict() or EarlyStopping.state_dict()."
            )
        self.counter = counter
        self.best_score = None if best is None else _check_score(best, "state_dict['best_score']")
        self.improved = False


def _one_of(ember_name: str, ember_value: Any, ember_default: Any, ignite_name: str, ignite_value: Any) -> Any:
    """The value of a setting that ember and ignite 0.5.5 name differently; refuse contradicting values."""
    if ignite_value is None:
        return ember_value
    if ember_value != ember_default and ember_value != ignite_value:
        raise ValueError(
            f"{ember_name}={ember_value!r} and {ignite_name}={ignite_value!r} were both given; they are two names "
            f"of one setting (ember's and ignite 0.5.5's). Pass only one of them."
        )
    return ignite_value


class EarlyStopping:
    """Stop ``trainer`` when ``score_function(engine)`` has not improved for ``patience`` evaluations.

    Args:
        patience: how many evaluations in a row without improvement end the run (>= 1).
        score_function: ``score_function(engine) -> float``; it is called with the engine the
            handler is attached to (typically the evaluator), e.g.
            ``lambda engine: engine.state.metrics["accuracy"]``. Higher is better, unless
            ``mode="min"``.
        trainer: the engine to stop, with :meth:`~ember.engine.Engine.terminate`.
        min_delta: a score must beat the best one by more than this to count as an improvement
            (``threshold`` is ignite 0.5.5's name for it; pass either).
        cumulative_delta: see :class:`Patience` (``cumulative`` is ignite 0.5.5's name).
        threshold_mode: ``"abs"`` (default) or ``"rel"``: whether ``min_delta`` is an absolute
            margin or a fraction of the best score; see :class:`Patience`. ``min_delta_mode`` is
            ignite 0.5.4's name for it.
        mode: ``"max"`` (default) when a higher score is better, ``"min"`` for a loss.
        restore_best: a model whose weights at the best score are kept (a copy of its
            ``state_dict``) and loaded back into it when ``trainer`` completes, so the run ends
            with the best model rather than the last one.
        sync_timeout: under ``torch.distributed``, how many seconds (60 by default) the first
            rank to call the handler waits for the others before it raises a ``RuntimeError``
            (see below). Raise it if your ranks legitimately reach the evaluation's end
            minutes apart.

    Attach it to the engine whose score it watches, at the event where the score is ready::

        stopper = EarlyStopping(3, lambda engine: engine.state.metrics["accuracy"], trainer)
        # checks after each evaluation (Events.COMPLETED), forgets the scores when trainer starts a run
        stopper.attach(evaluator, reset_engine=trainer)
        # or ignite's usual spelling: checks after each evaluation, never resets (keeps loaded scores)
        evaluator.add_event_handler(Events.COMPLETED, stopper)

    ``stopper.attach(evaluator)`` alone warns: ignite 0.5.5 would reset the handler at the
    evaluator's ``STARTED`` (see :meth:`attach`). ``stopper.patience`` is the number, as in
    ignite; the :class:`Patience` that decides is ``stopper.decision``.

    Calling ``stopper(evaluator)`` directly does the same check, which is how it can be tested
    without a run.

    Under ``torch.distributed`` every process calls ``score_function`` (it may run collectives),
    then all of them use **rank 0's score**, sent to the others with one small broadcast per
    evaluation. So every process keeps the same best score and count and stops the trainer at
    the same evaluation, even if the score is computed from each process's own shard; none is
    left waiting in a collective for a process that has stopped. (A metric synchronised across
    processes, as ember's metrics are, gives the same score everywhere anyway.)

    So every rank must call the handler at each evaluation: an evaluator run on rank 0 only
    (``if idist.get_rank() == 0: evaluator.run(...)``, which works in ignite, where each rank
    decides alone) would leave rank 0 waiting for the others. The ranks first meet through the
    process group's store, without a collective: when some rank has not come within
    ``sync_timeout`` seconds, the ranks that did raise a ``RuntimeError`` naming the missing ranks
    and the fix (run the evaluator on every rank, or share rank 0's score yourself and check it on
    the trainer), instead of hanging until the collective timeout.

    >>> trainer = Engine(lambda engine, batch: None)
    >>> scores = iter([0.7, 0.8, 0.75, 0.79])
    >>> stopper = EarlyStopping(2, lambda engine: next(scores), trainer)
    >>> _ = trainer.add_event_handler(Events.EPOCH_COMPLETED, stopper)
    >>> trainer.run([0], max_epochs=10).epoch
    4
    """

    def __init__(
        self,
        patience: int,
        score_function: Callable[[Engine], Any],
        trainer: Engine,
        min_delta: float = 0.0,
        cumulative_delta: bool = False,
        threshold_mode: Literal["abs", "rel"] = "abs",
        mode: Literal["max", "min"] = "max",
        *,
        restore_best: torch.nn.Module | None = None,
        sync_timeout: float = 60.0,
        threshold: float | None = None,
        cumulative: bool | None = None,
        min_delta_mode: Literal["abs", "rel"] | None = None,
    ) -> None:
        check_callable(
            score_function,
            "score_function",
            "score_function(engine)",
            "lambda engine: engine.state.metrics['accuracy']",
        )
        if not isinstance(trainer, Engine):
            raise TypeError(
                f"trainer must be an ember Engine, got {trainer!r} ({type(trainer).__name__}). "
                "Pass the engine that early stopping should terminate."
            )
        if restore_best is not None and not isinstance(restore_best, torch.nn.Module):
            raise TypeError(
                f"restore_best must be a torch.nn.Module or None, got {type(restore_best).__name__}. "
                "Pass the model whose best weights should be restored at the end of training."
            )
        #: seconds the ranks wait for each other at an evaluation under torch.distributed
        self.sync_timeout = _check_sync_timeout(sync_timeout)
        min_delta = _one_of("min_delta", min_delta, 0.0, "threshold", threshold)
        cumulative_delta = _one_of("cumulative_delta", cumulative_delta, False, "cumulative", cumulative)
        threshold_mode = _one_of("threshold_mode", threshold_mode, "abs", "min_delta_mode", min_delta_mode)
        #: the :class:`Patience` that decides: the best score, the count, whether the last score improved
        self.decision = Patience(patience, min_delta, cumulative_delta, mode, threshold_mode)
        self.score_function = score_function
        self.trainer = trainer
        self.restore_best = restore_best
        #: a copy of ``restore_best``'s weights at the best score so far (``None`` until the first score)
        self.best_weights: dict[str, torch.Tensor] | None = None
        #: whether this handler has terminated the trainer
        self.stopped = False
        #: where it reports (``ember.handlers.early_stopping.EarlyStopping``; ignite's handler has one too).
        #: ember leaves its configuration to the application: no handler or level is set on it.
        self.logger: logging.Logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        if restore_best is not None:
            # Wired here rather than in attach() so the weights come back however the check is wired.
            trainer.add_event_handler(Events.COMPLETED, self.restore)

    # ignite's attribute names, read from (and written to) the Patience that holds them
    @property
    def patience(self) -> int:
        """How many evaluations in a row without improvement stop the trainer (an int, as in ignite)."""
        return self.decision.patience

    @patience.setter
    def patience(self, value: int) -> None:
        _check_patience_arguments(value, self.decision.min_delta, False)
        self.decision.patience = value

    @property
    def counter(self) -> int:
        """Evaluations since the last improvement."""
        return self.decision.counter

    @counter.setter
    def counter(self, value: int) -> None:
        self.decision.counter = value

    @property
    def best_score(self) -> float | None:
        """The best score so far (``None`` before the first evaluation)."""
        return self.decision.best_score

    @best_score.setter
    def best_score(self, value: float | None) -> None:
        self.decision.best_score = value

    @property
    def threshold(self) -> float:
        """The margin an improvement must clear (``min_delta``; ignite 0.5.5's name)."""
        return self.decision.min_delta

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.decision.min_delta = value

    min_delta = threshold  # ignite 0.5.4's name (deprecated in ignite, ember's own)

    @property
    def cumulative(self) -> bool:
        """Whether small gains add up against the same best score (``cumulative_delta``; ignite 0.5.5's name)."""
        return self.decision.cumulative_delta

    @cumulative.setter
    def cumulative(self, value: bool) -> None:
        self.decision.cumulative_delta = value

    cumulative_delta = cumulative  # ignite 0.5.4's name (deprecated in ignite, ember's own)

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``."""
        return self.decision.mode

    @mode.setter
    def mode(self, value: Literal["max", "min"]) -> None:
        _check_patience_arguments(self.decision.patience, self.decision.min_delta, False, value)
        self.decision.mode = value

    @property
    def threshold_mode(self) -> str:
        """``"abs"`` or ``"rel"``."""
        return self.decision.threshold_mode

    @threshold_mode.setter
    def threshold_mode(self, value: Literal["abs", "rel"]) -> None:
        _check_patience_arguments(self.decision.patience, self.decision.min_delta, False, "max", value)
        self.decision.threshold_mode = value

    min_delta_mode = threshold_mode  # ignite 0.5.4's name

    def attach(
        self,
        engine: Engine,
        event: Any = Events.COMPLETED,
        reset_engine: Engine | None = None,
        reset_event: Any = Events.STARTED,
    ) -> EarlyStopping:
        """Check the score whenever ``event`` fires on ``engine``; returns the handler.

        Args:
            engine: the engine whose score is watched, typically the evaluator.
            event: when to check (default: ``COMPLETED``, the end of each evaluation).
            reset_engine: an engine on whose ``reset_event`` the handler forgets its scores
                (:meth:`reset`), e.g. the trainer, so that each training run starts afresh.
                Left out, nothing resets the handler, and ember warns: ignite 0.5.5 then resets
                it on ``engine``'s own ``reset_event``, which with an evaluator forgets the scores
                before each evaluation, so that its early stopping never stops the trainer.
            reset_event: the event of ``reset_engine`` that resets the handler.

        To check after each evaluation without any reset (so that scores loaded from a checkpoint
        survive a resumed run's ``STARTED`` too), add the handler the way both libraries do,
        ``evaluator.add_event_handler(Events.COMPLETED, handler)``; it does not warn.

        Raises:
            TypeError: ``engine`` or ``reset_engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.

        Warns:
            UserWarning: ``reset_engine`` is left out (where ignite 0.5.5 would reset the handler).
        """
        check_attach(
            "EarlyStopping",
            engine,
            already=isinstance(engine, Engine) and engine.has_event_handler(self),
            consequence="count each evaluation twice and stop too early",
        )
        if reset_engine is not None and not isinstance(reset_engine, Engine):
            raise TypeError(
                f"reset_engine must be an ember Engine or None, got {reset_engine!r} ({type(reset_engine).__name__}). "
                "Pass the trainer to forget the scores when it starts a new run."
            )
        if reset_engine is None:
            # a silent difference would be worse: under ignite the same line disables early stopping
            warnings.warn(
                "EarlyStopping.attach(engine) without reset_engine never resets the handler in ember, whereas "
                f"ignite 0.5.5 resets it at engine's {reset_event} (attached to an evaluator, ignite forgets the "
                "scores before every evaluation and never stops the trainer). To forget the scores when training "
                "starts, pass reset_engine=trainer (the same in both libraries). To keep them across runs, add the "
                f"handler with engine.add_event_handler({event}, handler) instead of attach().",
                UserWarning,
                stacklevel=2,
            )
        else:
            reset_engine.add_event_handler(reset_event, self.reset)
        engine.add_event_handler(event, self)
        return self

    def __call__(self, engine: Engine) -> None:
        """Score ``engine``; terminate the trainer once ``patience`` scores brought no improvement."""
        if distributed.is_distributed():
            # before score_function, which may run collectives of its own
            self._meet_the_other_ranks(engine)
        score = self.score_function(engine)
        if distributed.is_distributed():
            # Every rank reaches this broadcast once per evaluation, so the decision is one for all.
            score = distributed.broadcast_object(score if distributed.get_rank() == 0 else None, src=0)
        stop = self.decision.step(_check_score(score, "score_function"))
        if not self.decision.improved:
            self.logger.debug("EarlyStopping: %i / %i", self.decision.counter, self.decision.patience)
        if self.decision.improved and self.restore_best is not None:
            self.best_weights = {
                name: tensor.detach().clone() for name, tensor in self.restore_best.state_dict().items()
            }
        if stop:
            self.logger.info(
                "EarlyStopping: no improvement over the best score %s for %d evaluations; stopping the trainer.",
                self.decision.best_score,
                self.decision.counter,
            )
            self.stopped = True
            self.trainer.terminate()

    def _meet_the_other_ranks(self, engine: Engine) -> None:
        """Raise, naming them, if some ranks do not call the handler for this evaluation within ``sync_timeout``."""
        number = next(_exchanges)
        previous = f"EarlyStopping/{number - 1}" if number else None
        missing = distributed.collectives._wait_for_ranks(f"EarlyStopping/{number}", self.sync_timeout, forget=previous)
        if missing:
            raise RuntimeError(
                f"EarlyStopping was called on rank {distributed.get_rank()} (at the engine's iteration "
                f"{engine.state.iteration}, epoch {engine.state.epoch}), but rank(s) {missing} did not call it within "
                f"sync_timeout={self.sync_timeout:g} s. Under torch.distributed every rank uses rank 0's score, so "
                "every rank must call EarlyStopping at each evaluation; the engine it is attached to probably runs on "
                "some ranks only (e.g. `if idist.get_rank() == 0: evaluator.run(...)`). Run the evaluator on every "
                "rank (its metrics are computed over all ranks' data anyway), or compute the score on one rank, share "
                "it with idist.broadcast in a trainer handler that every rank runs, and attach EarlyStopping to the "
                "trainer with a score_function reading the shared value. If the ranks only arrive far apart, pass a "
                "longer EarlyStopping(..., sync_timeout=...)."
            )

    def reset(self) -> None:
        """Forget every score and the kept weights, as before the first evaluation."""
        self.decision.reset()
        self.best_weights = None
        self.stopped = False

    def restore(self) -> None:
        """Load the weights kept at the best score into ``restore_best`` (called when the trainer completes)."""
        if self.restore_best is None or self.best_weights is None:
            return
        self.restore_best.load_state_dict(self.best_weights)
        self.logger.info("EarlyStopping: restored the weights of the best score %s.", self.decision.best_score)

    def state_dict(self) -> dict[str, Any]:
        """The state for checkpoints: ignite's keys, in its order, and the best weights with ``restore_best``.

        ``{"counter", "best_score", "threshold_mode"}``, plus ``"best_weights"`` with ``restore_best``.
        """
        decision = self.decision.state_dict()
        saved = {
            "counter": decision["counter"],
            "best_score": decision["best_score"],
            "threshold_mode": self.decision.threshold_mode,
        }
        if self.restore_best is not None:
            saved["best_weights"] = copy.copy(self.best_weights)
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        A ``threshold_mode`` in it replaces the handler's (as in ignite); a dict without one (saved by
        an earlier ember) keeps the handler's.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict`.
        """
        self.decision.load_state_dict(state_dict)
        if "threshold_mode" in state_dict:
            threshold_mode = state_dict["threshold_mode"]
            if threshold_mode not in ("abs", "rel"):
                raise ValueError(
                    f"state_dict['threshold_mode'] must be 'abs' or 'rel', got {threshold_mode!r}. "
                    "Pass a dict saved by EarlyStopping.state_dict()."
                )
            self.decision.threshold_mode = threshold_mode
        if self.restore_best is not None:
            weights = state_dict.get("best_weights")
            if weights is not None and not isinstance(weights, Mapping):
                raise TypeError(
                    f"state_dict['best_weights'] must be a model state dict or None, got {type(weights).__name__}. "
                    "Pass a dict saved by EarlyStopping.state_dict()."
                )
            self.best_weights = None if weights is None else dict(weights)
