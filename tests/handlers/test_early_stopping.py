"""EarlyStopping and its pure Patience logic, on scripted score sequences and real engines."""

from __future__ import annotations

import importlib
import logging
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ember.distributed as idist
from ember.engine import Engine, Events
from ember.handlers import EarlyStopping, Patience

# (patience, min_delta, cumulative_delta, scores, evaluation at which it stops (None: never), best score then)
# The expected values are worked out by hand from the rule "a score improves when it exceeds best + min_delta".
SCRIPTS = [
    pytest.param(1, 0.0, False, [1.0, 2.0, 3.0, 2.0, 5.0], 4, 3.0, id="patience-1-first-drop"),
    pytest.param(2, 0.0, False, [0.5, 0.6, 0.6, 0.55, 0.9], 4, 0.6, id="equal-score-is-no-improvement"),
    pytest.param(3, 0.0, False, [1.0, 0.9, 1.1, 1.0, 1.0, 1.05], 6, 1.1, id="improvement-resets-count"),
    pytest.param(1, 0.0, False, [1.0, 2.0, 3.0, 4.0, 5.0], None, 5.0, id="always-improving-never-stops"),
    pytest.param(2, 0.0, False, [0.5, 0.5, 0.5], 3, 0.5, id="flat-from-start"),
    pytest.param(2, 0.0, False, [-1.0, -0.8, -0.9, -0.85, 0.0], 4, -0.8, id="negated-loss"),
    pytest.param(3, 0.1, False, [1.0, 1.06, 1.12, 1.18, 2.0], 4, 1.18, id="small-gains-move-the-best"),
    pytest.param(3, 0.1, True, [1.0, 1.06, 1.12, 1.18, 1.2, 1.21], 6, 1.12, id="cumulative-small-gains-add-up"),
    pytest.param(1, 0.5, False, [1.0, 1.4, 2.0], 2, 1.4, id="min-delta-blocks-small-gain"),
]


@pytest.mark.parametrize(("patience", "min_delta", "cumulative", "scores", "stop_at", "best"), SCRIPTS)
def test_patience_on_scripted_scores(
    patience: int, min_delta: float, cumulative: bool, scores: list[float], stop_at: int | None, best: float
) -> None:
    logic = Patience(patience, min_delta=min_delta, cumulative_delta=cumulative)
    decisions = []
    for score in scores:
        decisions.append(logic.step(score))
        if decisions[-1]:
            break
    expected_length = len(scores) if stop_at is None else stop_at
    assert decisions == [False] * (expected_length - 1) + [stop_at is not None]
    assert logic.best_score == best


def scripted(scores: list[float]) -> Iterator[float]:
    yield from scores


@pytest.mark.parametrize(("patience", "min_delta", "cumulative", "scores", "stop_at", "best"), SCRIPTS)
def test_early_stopping_stops_a_real_trainer_on_scripted_scores(
    patience: int, min_delta: float, cumulative: bool, scores: list[float], stop_at: int | None, best: float
) -> None:
    """The trainer runs an evaluator after each epoch; the evaluator's accuracy follows the script."""
    trainer = Engine(lambda engine, batch: batch)
    evaluator = Engine(lambda engine, batch: batch)
    script = scripted(scores)

    @evaluator.on(Events.COMPLETED)
    def compute_metric(engine: Engine) -> None:
        engine.state.metrics["accuracy"] = next(script)

    stopper = EarlyStopping(
        patience, lambda engine: engine.state.metrics["accuracy"], trainer, min_delta, cumulative
    ).attach(evaluator, reset_engine=trainer)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([0, 1]))
    fired: list[Any] = []
    trainer.add_event_handler(Events.TERMINATE, lambda: fired.append(Events.TERMINATE))

    state = trainer.run([1, 2, 3], max_epochs=len(scores))

    assert state.epoch == (len(scores) if stop_at is None else stop_at)
    assert fired == ([] if stop_at is None else [Events.TERMINATE])
    assert stopper.best_score == best


def test_called_directly_with_a_hand_built_engine() -> None:
    """No run(): the handler reads the score from the engine it is given."""
    trainer = Engine(lambda engine, batch: batch)
    stopper = EarlyStopping(2, lambda engine: engine.state.metrics["f1"], trainer)
    evaluator = Engine()
    for score, counter in [(0.5, 0), (0.7, 0), (0.6, 1)]:
        evaluator.state.metrics["f1"] = score
        stopper(evaluator)
        assert stopper.counter == counter
    assert stopper.best_score == 0.7


def test_stop_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    trainer = Engine(lambda engine, batch: batch)
    scores = scripted([3.0, 1.0])
    trainer.add_event_handler(Events.EPOCH_COMPLETED, EarlyStopping(1, lambda engine: next(scores), trainer))
    with caplog.at_level(logging.INFO, logger="ember.handlers.early_stopping"):
        trainer.run([0], max_epochs=5)
    assert "no improvement over the best score 3.0 for 1 evaluations; stopping the trainer" in caplog.text


def test_one_element_tensor_scores_are_accepted() -> None:
    trainer = Engine(lambda engine, batch: batch)
    scores = scripted([2.0, 1.0, 1.5])
    stopper = EarlyStopping(2, lambda engine: torch.tensor(next(scores)), trainer)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, stopper)
    assert trainer.run([0], max_epochs=10).epoch == 3
    assert stopper.best_score == 2.0


def test_restore_best_loads_the_weights_of_the_best_epoch() -> None:
    """Each epoch sets the weight to the epoch number; the score peaks at epoch 2, so weight 2.0 comes back."""
    model = torch.nn.Linear(1, 1, bias=False)

    def train_step(engine: Engine, batch: Any) -> None:
        with torch.no_grad():
            model.weight.fill_(float(engine.state.epoch))

    trainer = Engine(train_step)
    scores = {1: 0.5, 2: 0.9, 3: 0.8, 4: 0.7, 5: 0.95}
    stopper = EarlyStopping(2, lambda engine: scores[engine.state.epoch], trainer, restore_best=model)
    stopper.attach(trainer, Events.EPOCH_COMPLETED, reset_engine=trainer)

    state = trainer.run([0], max_epochs=5)

    assert state.epoch == 4
    assert model.weight.item() == 2.0


def test_restore_best_also_applies_when_the_run_ends_without_stopping() -> None:
    model = torch.nn.Linear(1, 1, bias=False)

    def train_step(engine: Engine, batch: Any) -> None:
        with torch.no_grad():
            model.weight.fill_(float(engine.state.epoch))

    trainer = Engine(train_step)
    scores = {1: 0.5, 2: 0.9, 3: 0.8}
    EarlyStopping(5, lambda engine: scores[engine.state.epoch], trainer, restore_best=model).attach(
        trainer, Events.EPOCH_COMPLETED, reset_engine=trainer
    )
    trainer.run([0], max_epochs=3)
    assert model.weight.item() == 2.0


def test_state_dict_round_trip_continues_the_count() -> None:
    """Saved after two scores without improvement, a new handler stops at the next one; a fresh one would not."""
    trainer = Engine(lambda engine, batch: batch)
    evaluator = Engine()
    first = EarlyStopping(3, lambda engine: engine.state.metrics["acc"], trainer)
    for score in [0.9, 0.8, 0.85]:
        evaluator.state.metrics["acc"] = score
        first(evaluator)
    saved = first.state_dict()
    assert saved == {"counter": 2, "best_score": 0.9, "threshold_mode": "abs"}  # ignite's keys

    resumed = EarlyStopping(3, lambda engine: engine.state.metrics["acc"], trainer)
    resumed.load_state_dict(saved)
    resumed.decision.step(0.7)
    assert resumed.counter == 3
    fresh = Patience(3)
    assert fresh.step(0.7) is False


def test_state_dict_keeps_the_best_weights_with_restore_best() -> None:
    model = torch.nn.Linear(2, 1)
    trainer = Engine(lambda engine, batch: batch)
    stopper = EarlyStopping(2, lambda engine: 1.0, trainer, restore_best=model)
    stopper(Engine())
    saved = stopper.state_dict()
    assert set(saved) == {"best_score", "counter", "threshold_mode", "best_weights"}
    other = torch.nn.Linear(2, 1)
    restored = EarlyStopping(2, lambda engine: 1.0, Engine(lambda engine, batch: batch), restore_best=other)
    restored.load_state_dict(saved)
    restored.restore()
    assert torch.equal(other.weight, model.weight) and torch.equal(other.bias, model.bias)


def never_called(engine: Engine) -> float:
    raise AssertionError("the score function must not be called")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"patience": 0}, ValueError, r"patience must be >= 1, got patience=0\. Pass"),
        ({"patience": -3}, ValueError, r"patience must be >= 1, got patience=-3"),
        ({"patience": 2.5}, TypeError, r"patience must be a whole number, got patience=2\.5 \(float\)"),
        ({"patience": True}, TypeError, r"patience must be a whole number, got patience=True \(bool\)"),
        ({"min_delta": -0.1}, ValueError, r"min_delta must be a finite number >= 0, got min_delta=-0\.1"),
        ({"min_delta": "0.1"}, TypeError, r"min_delta must be a number, got min_delta='0\.1' \(str\)"),
        ({"cumulative_delta": 1}, TypeError, r"cumulative_delta must be True or False, got cumulative_delta=1"),
        (
            {"score_function": "accuracy"},
            TypeError,
            r"score_function must be a callable, got 'accuracy' \(str\)\. It is called as score_function\(engine\)",
        ),
        ({"trainer": "trainer"}, TypeError, r"trainer must be an ember Engine, got 'trainer' \(str\)"),
        ({"restore_best": {"w": 1}}, TypeError, r"restore_best must be a torch\.nn\.Module or None, got dict"),
    ],
)
def test_bad_arguments_are_refused_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"patience": 2, "score_function": never_called, "trainer": Engine(), **kwargs}
    with pytest.raises(error, match=message):
        EarlyStopping(**arguments)


@pytest.mark.parametrize(
    ("score", "error", "message"),
    [
        ("high", TypeError, r"score_function must give a real number, got 'high' \(str\)\. Return a float"),
        (None, TypeError, r"score_function must give a real number, got None \(NoneType\)"),
        ([0.5], TypeError, r"score_function must give a real number, got \[0\.5\] \(list\)"),
        (1 + 2j, TypeError, r"score_function must give a real number, got \(1\+2j\) \(complex\)"),
        (float("nan"), ValueError, r"score_function gave nan, which cannot be compared"),
    ],
)
def test_a_score_that_is_not_a_number_says_what_it_got(score: Any, error: type[Exception], message: str) -> None:
    stopper = EarlyStopping(2, lambda engine: score, Engine())
    with pytest.raises(error, match=message):
        stopper(Engine())


@pytest.mark.parametrize(
    ("score", "message"),
    [
        (torch.ones(2), r"must give one number, got tensor\(\[1\., 1\.\]\) \(Tensor, 2 values\)\. Reduce it"),
        (torch.tensor([]), r"must give one number, got tensor\(\[\]\) \(Tensor, 0 values\)"),
        (np.array([0.5, 0.6]), r"must give one number, got array\(\[0\.5, 0\.6\]\) \(ndarray, 2 values\)"),
    ],
)
def test_a_score_of_several_values_is_a_value_error_and_a_runtime_error(score: Any, message: str) -> None:
    """ignite fails there with numpy's ValueError or torch's RuntimeError; ember's error is both."""
    stopper = EarlyStopping(2, lambda engine: score, Engine())
    with pytest.raises(ValueError, match=message) as raised:
        stopper(Engine())
    assert isinstance(raised.value, RuntimeError)


@pytest.mark.parametrize(
    ("score", "value"),
    [
        (np.float32(0.5), 0.5),
        (np.array(0.25), 0.25),
        (np.array([[0.75]]), 0.75),
        (torch.tensor([[2]]), 2.0),
        (True, 1.0),
        (np.bool_(False), 0.0),
        (torch.tensor(True), 1.0),
    ],
)
def test_numbers_of_numpy_torch_and_bools_are_scores(score: Any, value: float) -> None:
    """As in ignite, any one-element tensor or array is a score, and a bool counts as 0 or 1."""
    stopper = EarlyStopping(2, lambda engine: score, Engine())
    stopper(Engine())
    assert stopper.best_score == value and type(stopper.best_score) is float


def test_attaching_twice_to_the_same_engine_is_refused() -> None:
    evaluator, trainer = Engine(), Engine()
    stopper = EarlyStopping(2, never_called, trainer).attach(evaluator, reset_engine=trainer)
    with pytest.raises(RuntimeError, match=r"already attached to this engine.*Attach it once"):
        stopper.attach(evaluator, reset_engine=trainer)


def test_attach_to_something_else_than_an_engine_is_refused() -> None:
    with pytest.raises(TypeError, match=r"EarlyStopping.attach expects an ember Engine, got None \(NoneType\)"):
        EarlyStopping(2, never_called, Engine()).attach(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("saved", "error", "message"),
    [
        ([0.5, 1], TypeError, r"load_state_dict expects a mapping, got list"),
        ({"counter": 1}, ValueError, r"misses the keys \['best_score'\] \(it has \['counter'\]\)"),
        ({"counter": -1, "best_score": 0.5}, ValueError, r"state_dict\['counter'\] must be a whole number >= 0"),
        ({"counter": 1, "best_score": "x"}, TypeError, r"state_dict\['best_score'\] must give a real number"),
    ],
)
def test_load_state_dict_refuses_what_state_dict_did_not_save(saved: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        EarlyStopping(2, never_called, Engine()).load_state_dict(saved)


# ---------------------------------------------------------------- ignite 0.5.5's spelling and rules

# (mode, threshold_mode, threshold, cumulative, scores, evaluation at which it stops, best score then), worked
# out by hand from ignite's documented rule: mode="max" improves when score > best + t ("abs") or
# score > best * (1 + t) ("rel"); mode="min" when score < best - t or score < best * (1 - t).
IGNITE_SCRIPTS = [
    pytest.param("min", "abs", 0.0, False, [1.0, 0.9, 0.95, 0.9], 4, 0.9, id="min-equal-is-no-improvement"),
    pytest.param("min", "abs", 0.1, False, [1.0, 0.95, 0.8, 0.75, 0.72], 5, 0.72, id="min-small-drops-move-best"),
    pytest.param("min", "abs", 0.1, True, [1.0, 0.95, 0.85, 0.84], None, 0.85, id="min-cumulative-drops-add-up"),
    pytest.param("min", "abs", 0.1, False, [1.0, 0.95, 0.85, 0.84], 3, 0.85, id="min-not-cumulative-same-scores"),
    pytest.param("max", "rel", 0.1, False, [1.0, 1.05, 1.2, 1.3, 1.3], 5, 1.3, id="max-rel-needs-ten-percent"),
    pytest.param("min", "rel", 0.5, False, [4.0, 3.0, 1.4, 1.0, 0.9], 5, 0.9, id="min-rel-needs-half"),
    # the formula taken literally: with a negative best, best * 1.5 is lower, so -5 beats -4
    pytest.param("max", "rel", 0.5, False, [-4.0, -5.0, -1.0, -0.9], None, -0.9, id="max-rel-negative-best"),
]


@pytest.mark.parametrize(
    ("mode", "threshold_mode", "threshold", "cumulative", "scores", "stop_at", "best"), IGNITE_SCRIPTS
)
def test_ignite_mode_and_threshold_mode(
    mode: str,
    threshold_mode: str,
    threshold: float,
    cumulative: bool,
    scores: list[float],
    stop_at: int | None,
    best: float,
) -> None:
    """ignite 0.5.5's keywords (threshold, cumulative, threshold_mode, mode), added as ignite adds it."""
    trainer = Engine(lambda engine, batch: None)
    script = iter(scores)
    stopper = EarlyStopping(
        patience=2,
        score_function=lambda engine: next(script),
        trainer=trainer,
        threshold=threshold,
        cumulative=cumulative,
        threshold_mode=threshold_mode,  # type: ignore[arg-type]
        mode=mode,  # type: ignore[arg-type]
    )
    trainer.add_event_handler(Events.EPOCH_COMPLETED, stopper)
    state = trainer.run([0], max_epochs=len(scores))
    assert state.epoch == (len(scores) if stop_at is None else stop_at)
    assert stopper.best_score == pytest.approx(best)
    assert stopper.stopped is (stop_at is not None)


def test_ignite_positional_arguments_match_ignite_0_5_5() -> None:
    """EarlyStopping(patience, score_function, trainer, threshold, cumulative, threshold_mode, mode)."""
    stopper = EarlyStopping(3, never_called, Engine(), 0.2, True, "rel", "min")
    assert (stopper.threshold, stopper.cumulative, stopper.threshold_mode, stopper.mode) == (0.2, True, "rel", "min")
    assert stopper.patience == 3 and stopper.counter == 0 and stopper.best_score is None


def test_two_names_of_one_setting_must_agree() -> None:
    with pytest.raises(ValueError, match=r"min_delta=0\.1 and threshold=0\.2 were both given; .* Pass only one"):
        EarlyStopping(2, never_called, Engine(), min_delta=0.1, threshold=0.2)
    assert EarlyStopping(2, never_called, Engine(), min_delta=0.1, threshold=0.1).threshold == 0.1
    with pytest.raises(ValueError, match=r"mode must be 'max' or 'min', got mode='maximum'"):
        EarlyStopping(2, never_called, Engine(), mode="maximum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"threshold_mode must be 'abs' or 'rel', got threshold_mode='relative'"):
        EarlyStopping(2, never_called, Engine(), threshold_mode="relative")  # type: ignore[arg-type]


def test_score_function_with_a_wrong_signature_fails_at_construction() -> None:
    with pytest.raises(TypeError, match=r"score_function has parameters \(engine, name\) but will be called as"):
        EarlyStopping(2, lambda engine, name: 0.0, Engine())


def test_reset_forgets_the_scores_and_reset_engine_resets_on_each_training_run() -> None:
    trainer = Engine(lambda engine, batch: None)
    evaluator = Engine(lambda engine, batch: None)
    stopper = EarlyStopping(2, lambda engine: 1.0, trainer).attach(evaluator, reset_engine=trainer)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([0]))
    assert trainer.run([0], max_epochs=10).epoch == 3  # flat scores: stops after 2 evaluations without gain
    assert stopper.stopped and stopper.counter == 2
    stopper.reset()
    assert (stopper.counter, stopper.best_score, stopper.stopped) == (0, None, False)
    stopper.decision.step(5.0)  # a best score the flat 1.0s cannot beat, unless the next run forgets it
    # The run continues from epoch 3; reset at its STARTED, the handler needs 3 evaluations again (a first
    # score, then 2 without gain): it stops at epoch 6. Without the reset it would stop after 2, at epoch 5.
    assert trainer.run([0], max_epochs=10).epoch == 6
    assert stopper.best_score == 1.0


def test_load_state_dict_takes_the_threshold_mode_and_refuses_an_unknown_one() -> None:
    """As in ignite, a saved threshold_mode replaces the handler's; one saved before it was kept loads too."""
    stopper = EarlyStopping(2, lambda engine: 1.0, Engine(lambda engine, batch: batch))
    stopper.load_state_dict({"counter": 1, "best_score": 0.5, "threshold_mode": "rel"})
    assert (stopper.counter, stopper.best_score, stopper.threshold_mode) == (1, 0.5, "rel")
    stopper.load_state_dict({"counter": 0, "best_score": None})
    assert stopper.threshold_mode == "rel"
    with pytest.raises(ValueError, match=r"state_dict\['threshold_mode'\] must be 'abs' or 'rel', got 'relative'"):
        stopper.load_state_dict({"counter": 0, "best_score": None, "threshold_mode": "relative"})


def test_has_a_logger_named_after_its_class() -> None:
    stopper = EarlyStopping(2, lambda engine: 1.0, Engine(lambda engine, batch: batch))
    assert stopper.logger is logging.getLogger("ember.handlers.early_stopping.EarlyStopping")


def test_ignites_attributes_can_be_set() -> None:
    """counter, best_score and the settings are plain attributes in ignite; the settings are still checked."""
    stopper = EarlyStopping(2, lambda engine: 1.0, Engine(lambda engine, batch: batch))
    stopper.counter, stopper.best_score, stopper.threshold, stopper.threshold_mode = 1, 0.5, 0.1, "rel"
    assert stopper.state_dict() == {"counter": 1, "best_score": 0.5, "threshold_mode": "rel"}
    assert (stopper.min_delta, stopper.min_delta_mode) == (0.1, "rel")  # ignite 0.5.4's names
    with pytest.raises(ValueError, match="threshold_mode must be 'abs' or 'rel'"):
        stopper.threshold_mode = "relative"  # type: ignore[assignment]


def test_patience_is_the_number_and_decision_the_patience_logic() -> None:
    """As in ignite, handler.patience is an int that can be set; the Patience object is handler.decision."""
    trainer = Engine(lambda engine, batch: None)
    scores = iter([1.0, 0.5, 0.5, 0.5, 0.5])
    stopper = EarlyStopping(2, lambda engine: next(scores), trainer)
    assert stopper.patience == 2 and type(stopper.patience) is int
    assert isinstance(stopper.decision, Patience) and stopper.decision.patience == 2
    stopper.patience = 4  # waits longer: stops after 4 scores without improvement, at epoch 5
    trainer.add_event_handler(Events.EPOCH_COMPLETED, stopper)
    assert trainer.run([0], max_epochs=10).epoch == 5
    assert (stopper.patience, stopper.decision.patience, stopper.counter) == (4, 4, 4)
    assert stopper.decision.improved is False


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, r"patience must be >= 1, got patience=0"),
        (1.5, TypeError, r"patience must be a whole number, got patience=1\.5 \(float\)"),
    ],
)
def test_setting_patience_is_checked(value: Any, error: type[Exception], message: str) -> None:
    stopper = EarlyStopping(2, never_called, Engine())
    with pytest.raises(error, match=message):
        stopper.patience = value
    assert stopper.patience == 2


def test_attach_without_reset_engine_warns_that_ignite_would_reset() -> None:
    """ignite 0.5.5 resets at the engine's own STARTED (with an evaluator: never stops); ember says so and keeps."""
    trainer, evaluator = Engine(lambda engine, batch: None), Engine(lambda engine, batch: None)
    scores = iter([0.9, 0.5, 0.5, 0.5])
    stopper = EarlyStopping(2, lambda engine: next(scores), trainer)
    with pytest.warns(UserWarning, match=r"without reset_engine never resets .* ignite 0\.5\.5 resets it at engine's"):
        stopper.attach(evaluator)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([0]))
    assert trainer.run([0], max_epochs=4).epoch == 3


@pytest.mark.parametrize("how", ["reset_engine", "add_event_handler"])
def test_the_two_ways_that_do_not_warn(how: str) -> None:
    trainer, evaluator = Engine(lambda engine, batch: None), Engine(lambda engine, batch: None)
    stopper = EarlyStopping(2, lambda engine: 1.0, trainer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if how == "reset_engine":
            stopper.attach(evaluator, reset_engine=trainer)
        else:
            evaluator.add_event_handler(Events.COMPLETED, stopper)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([0]))
    assert trainer.run([0], max_epochs=10).epoch == 3


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [("60", TypeError, "sync_timeout must be a number of seconds, got '60'"), (0, ValueError, "got sync_timeout=0")],
)
def test_sync_timeout_is_checked(value: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        EarlyStopping(2, lambda engine: 1.0, Engine(lambda engine, batch: None), sync_timeout=value)


# --------------------------------------------------------------------------- two processes (gloo, spawn)

TIMEOUT = 60


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The worker module, importable by name so that spawned processes can unpickle its functions."""
    folder = str(Path(__file__).parent)
    monkeypatch.syspath_prepend(folder)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([folder, os.environ.get("PYTHONPATH", "")]))
    return importlib.import_module("early_stopping_workers")


@pytest.mark.distributed
def test_with_the_evaluator_on_every_rank_both_ranks_stop_where_ignite_stops(workers: Any) -> None:
    """ignite's usual wiring under 2 processes: ember's EarlyStopping stops at the same epoch, with the same state."""
    for library in ("ember", "ignite"):
        with idist.Parallel(backend="gloo", nproc_per_node=2, timeout=TIMEOUT) as parallel:
            results = parallel.run(workers.every_rank_evaluates, library)
        assert results[0] == results[1]
        if library == "ember":
            ember_result = results[0]
    assert ember_result == results[0] == {"epoch": 4, "iteration": 12, "best": 0.6, "count": 2}


@pytest.mark.distributed
@pytest.mark.slow
def test_an_evaluator_run_on_rank_zero_only_is_an_error_naming_early_stopping_not_a_hang(workers: Any) -> None:
    """Rank 1 goes on training (DDP) while rank 0 evaluates: rank 0 raises after sync_timeout, naming the fix."""
    started = time.monotonic()
    parallel = idist.Parallel(backend="gloo", nproc_per_node=2, timeout=TIMEOUT)
    with pytest.raises(idist.RankRaisedError) as caught:
        parallel.run(workers.rank_zero_evaluates, 3.0)
    error = caught.value
    assert (error.rank, error.exception_type) == (0, "RuntimeError"), str(error)
    message = error.exception_message
    assert "EarlyStopping was called on rank 0 (at the engine's iteration 2, epoch 1), but rank(s) [1]" in message
    assert "did not call it within sync_timeout=3 s" in message
    assert "Run the evaluator on every rank" in message and "idist.broadcast" in message
    assert time.monotonic() - started < TIMEOUT
