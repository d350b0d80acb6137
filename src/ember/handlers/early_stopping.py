"""Early stopping: end training when a score has stopped improving for ``patience`` evaluations.

The decision lives in :class:`Patience`, a small pure object that takes scores and answers
"stop?"; :class:`EarlyStopping` only wires it to an engine's events and to the trainer.
"""

from __future__ import annotations

import copy
import logging
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.engine import Engine, Events

__all__ = ["EarlyStopping", "Patience"]

_logger = logging.getLogger(__name__)


def _check_patience_arguments(patience: Any, min_delta: Any, cumulative_delta: Any) -> None:
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


def _check_score(score: Any, source: str) -> float:
    """Return ``score`` as a float, or explain why it cannot be compared."""
    if isinstance(score, torch.Tensor) and score.numel() == 1:
        score = score.item()
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
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
    """Counts evaluations without improvement of a score (higher is better) and says when to stop.

    Args:
        patience: how many evaluations in a row without improvement end the run.
        min_delta: a score must exceed the best one by more than this to count as an improvement.
        cumulative_delta: if True, a score that rises by ``min_delta`` or less does not become
            the reference, so small gains add up against the same best score; if False (the
            default), such a score becomes the best one although it does not reset the count.

    The first score is always an improvement. :meth:`step` returns whether to stop, and sets
    :attr:`improved` to whether that score was a new best.

    >>> patience = Patience(patience=2)
    >>> [patience.step(score) for score in [0.5, 0.6, 0.6, 0.55]]
    [False, False, False, True]
    >>> patience.best_score, patience.counter
    (0.6, 2)
    """

    def __init__(self, patience: int, min_delta: float = 0.0, cumulative_delta: bool = False) -> None:
        _check_patience_arguments(patience, min_delta, cumulative_delta)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.cumulative_delta = cumulative_delta
        #: the best score seen so far (``None`` before the first score)
        self.best_score: float | None = None
        #: evaluations since the last improvement
        self.counter = 0
        #: whether the last score given to :meth:`step` was an improvement
        self.improved = False

    def step(self, score: float) -> bool:
        """Record ``score``; return True once ``patience`` scores in a row brought no improvement."""
        score = _check_score(score, "Patience.step's score")
        best = self.best_score
        if best is not None and score <= best + self.min_delta:
            if not self.cumulative_delta and score > best:
                self.best_score = score
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


class EarlyStopping:
    """Stop ``trainer`` when ``score_function(engine)`` has not improved for ``patience`` evaluations.

    Args:
        patience: how many evaluations in a row without improvement end the run (>= 1).
        score_function: ``score_function(engine) -> float``, higher is better; it is called with
            the engine the handler is attached to (typically the evaluator), e.g.
            ``lambda engine: engine.state.metrics["accuracy"]``, or ``-loss`` for a loss.
        trainer: the engine to stop, with :meth:`~ember.engine.Engine.terminate`.
        min_delta: a score must exceed the best one by more than this to count as an improvement.
        cumulative_delta: see :class:`Patience`.
        restore_best: a model whose weights at the best score are kept (a copy of its
            ``state_dict``) and loaded back into it when ``trainer`` completes, so the run ends
            with the best model rather than the last one.

    Attach it to the engine whose score it watches, at the event where the score is ready::

        stopper = EarlyStopping(3, lambda engine: engine.state.metrics["accuracy"], trainer)
        stopper.attach(evaluator)  # checks after each evaluation (Events.COMPLETED)

    Calling ``stopper(evaluator)`` directly does the same check, which is how it can be tested
    without a run.

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
        restore_best: torch.nn.Module | None = None,
    ) -> None:
        if not callable(score_function):
            raise TypeError(
                f"score_function must be a callable engine -> float, got {score_function!r} "
                f"({type(score_function).__name__}). Pass e.g. lambda engine: engine.state.metrics['accuracy']."
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
        self.patience = Patience(patience, min_delta, cumulative_delta)
        self.score_function = score_function
        self.trainer = trainer
        self.restore_best = restore_best
        #: a copy of ``restore_best``'s weights at the best score so far (``None`` until the first score)
        self.best_weights: dict[str, torch.Tensor] | None = None
        if restore_best is not None:
            # Wired here rather than in attach() so the weights come back however the check is wired.
            trainer.add_event_handler(Events.COMPLETED, self.restore)

    def attach(self, engine: Engine, event: Any = Events.COMPLETED) -> EarlyStopping:
        """Check the score whenever ``event`` fires on ``engine``; returns the handler.

        Raises:
            TypeError: ``engine`` is not an :class:`~ember.engine.Engine`.
            RuntimeError: the handler is already attached to ``engine``.
        """
        if not isinstance(engine, Engine):
            raise TypeError(
                f"EarlyStopping.attach expects an ember Engine, got {engine!r} ({type(engine).__name__}). "
                "Pass the engine whose score is watched, typically the evaluator."
            )
        if engine.has_event_handler(self):
            raise RuntimeError(
                "This EarlyStopping is already attached to this engine; a second attachment would count each "
                "evaluation twice and stop too early. Attach it once."
            )
        engine.add_event_handler(event, self)
        return self

    def __call__(self, engine: Engine) -> None:
        """Score ``engine``; terminate the trainer once ``patience`` scores brought no improvement."""
        score = _check_score(self.score_function(engine), "score_function")
        stop = self.patience.step(score)
        if self.patience.improved and self.restore_best is not None:
            self.best_weights = {
                name: tensor.detach().clone() for name, tensor in self.restore_best.state_dict().items()
            }
        if stop:
            _logger.info(
                "EarlyStopping: no improvement over the best score %s for %d evaluations; stopping the trainer.",
                self.patience.best_score,
                self.patience.counter,
            )
            self.trainer.terminate()

    def restore(self) -> None:
        """Load the weights kept at the best score into ``restore_best`` (called when the trainer completes)."""
        if self.restore_best is None or self.best_weights is None:
            return
        self.restore_best.load_state_dict(self.best_weights)
        _logger.info("EarlyStopping: restored the weights of the best score %s.", self.patience.best_score)

    def state_dict(self) -> dict[str, Any]:
        """The best score, the count and (with ``restore_best``) the best weights, for checkpoints."""
        saved = self.patience.state_dict()
        if self.restore_best is not None:
            saved["best_weights"] = copy.copy(self.best_weights)
        return saved

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict`.

        Raises:
            TypeError / ValueError: the mapping is not one saved by :meth:`state_dict`.
        """
        self.patience.load_state_dict(state_dict)
        if self.restore_best is not None:
            weights = state_dict.get("best_weights")
            if weights is not None and not isinstance(weights, Mapping):
                raise TypeError(
                    f"state_dict['best_weights'] must be a model state dict or None, got {type(weights).__name__}. "
                    "Pass a dict saved by EarlyStopping.state_dict()."
                )
            self.best_weights = None if weights is None else dict(weights)
