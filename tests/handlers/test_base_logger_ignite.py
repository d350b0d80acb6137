"""A logger of one's own, written against ignite's documented base classes, runs on ember with ignite's results.

The logger and its handlers below subclass ``<library>.handlers.base_logger``'s classes exactly as
ignite's documentation and its own loggers do (``_create_output_handler``, ``_setup_output_metrics_state_attrs``,
``weights``, ``reduction``, ``global_step_transform``); the same training program runs once on ignite and
once on ember, and every call the logger receives, with its step, names and values, must be the same.
"""

from __future__ import annotations

import warnings
from typing import Any

import ignite.engine
import ignite.handlers.base_logger
import ignite.handlers.utils
import ignite.metrics
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import ember.contrib.handlers.base_logger
import ember.engine
import ember.handlers
import ember.handlers.base_logger
import ember.handlers.utils
import ember.metrics


def logger_classes(base: Any) -> Any:
    """A user's logger, written once against ignite's base-class API, built on ``base`` (ignite's or ember's)."""

    class OutputHandler(base.BaseOutputHandler):
        def __init__(self, *args: Any, key_tuple: bool = True, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.key_tuple = key_tuple

        def __call__(self, engine: Any, logger: Any, event_name: Any) -> None:
            values = self._setup_output_metrics_state_attrs(engine, log_text=True, key_tuple=self.key_tuple)
            step = self.global_step_transform(engine, event_name)
            for key, value in values.items():
                logger.calls.append(("output", str(event_name), step, key, value))

    class OptimizerParamsHandler(base.BaseOptimizerParamsHandler):
        def __call__(self, engine: Any, logger: Any, event_name: Any) -> None:
            step = engine.state.get_event_attrib_value(event_name)
            prefix = f"{self.tag}/" if self.tag else ""
            for index, group in enumerate(self.optimizer.param_groups):
                logger.calls.append(
                    ("opt", step, f"{prefix}{self.param_name}/group_{index}", float(group[self.param_name]))
                )

    class WeightsScalarHandler(base.BaseWeightsScalarHandler):
        def __call__(self, engine: Any, logger: Any, event_name: Any) -> None:
            step = engine.state.get_event_attrib_value(event_name)
            for name, parameter in self.weights:
                logger.calls.append(("weights", step, self.tag, name, float(self.reduction(parameter.data))))

    class WeightsShapeHandler(base.BaseWeightsHandler):
        def __call__(self, engine: Any, logger: Any, event_name: Any) -> None:
            logger.calls.append(("shapes", self.tag, [(name, tuple(p.shape)) for name, p in self.weights]))

    class ListLogger(base.BaseLogger):
        def __init__(self) -> None:
            self.calls: list[Any] = []
            self.closed = False

        def _create_output_handler(self, *args: Any, **kwargs: Any) -> Any:
            return OutputHandler(*args, **kwargs)

        def _create_opt_params_handler(self, *args: Any, **kwargs: Any) -> Any:
            return OptimizerParamsHandler(*args, **kwargs)

        def close(self) -> None:
            self.closed = True

    return ListLogger, WeightsScalarHandler, WeightsShapeHandler


def run_program(library: Any, base: Any, utils: Any) -> tuple[list[Any], bool, list[str]]:
    ListLogger, WeightsScalarHandler, WeightsShapeHandler = logger_classes(base)
    engine_module = library.engine
    Events = engine_module.Events
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    data = TensorDataset(torch.randn(20, 3), torch.randn(20, 1))
    loader = DataLoader(data, batch_size=5)

    def train_step(engine: Any, batch: Any) -> dict[str, Any]:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "parts": torch.tensor([loss.item(), 2.0]), "note": "text", "pair": (1, 2.5)}

    def eval_step(engine: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return model(batch[0]), batch[1]

    trainer = engine_module.Engine(train_step)
    evaluator = engine_module.Engine(eval_step)
    library.metrics.MeanSquaredError().attach(evaluator, "mse")
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run(loader))
    trainer.state.custom = 7
    with ListLogger() as logger:
        logger.attach_output_handler(
            trainer, Events.ITERATION_COMPLETED(every=2), tag="train", output_transform=lambda output: output
        )
        logger.attach_output_handler(
            trainer,
            Events.EPOCH_COMPLETED,
            tag="state",
            state_attributes=["epoch", "custom", "missing"],
            key_tuple=False,
        )
        logger.attach_output_handler(
            evaluator,
            event_name=Events.COMPLETED,
            tag="val",
            metric_names=["mse", "absent"],
            global_step_transform=utils.global_step_from_engine(trainer),
        )
        logger.attach_output_handler(evaluator, Events.COMPLETED, tag="all", metric_names="all")
        logger.attach_opt_params_handler(trainer, Events.ITERATION_STARTED, optimizer, param_name="lr", tag="opt")
        logger.attach(trainer, WeightsScalarHandler(model, whitelist=["0."], tag="w"), Events.EPOCH_COMPLETED)
        logger.attach(
            trainer,
            WeightsScalarHandler(model, reduction=lambda t: t.abs().max(), whitelist=lambda n, p: "bias" in n),
            Events.EPOCH_STARTED,
        )
        logger.attach(trainer, WeightsShapeHandler(model, tag="shapes"), Events.STARTED | Events.COMPLETED)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.run(loader, max_epochs=2)
    messages = sorted(
        {type(w.message).__name__ for w in caught if "absent" in str(w.message) or "None" in str(w.message)}
    )
    calls = [tuple(str(item) if "Events" in str(type(item)) else item for item in call) for call in logger.calls]
    return calls, logger.closed, messages


def test_a_user_logger_on_ignites_base_classes_makes_the_same_calls_on_ember() -> None:
    expected = run_program(ignite, ignite.handlers.base_logger, ignite.handlers.utils)
    got = run_program(ember, ember.handlers.base_logger, ember.handlers.utils)
    assert len(got[0]) == len(expected[0]) >= 50
    for got_call, expected_call in zip(got[0], expected[0], strict=True):
        if got_call[0] == "output":  # the event's text differs (a filtered event's repr); the rest must match
            assert (got_call[0], *got_call[2:]) == (expected_call[0], *expected_call[2:])
        else:
            assert got_call == expected_call
    assert got[1] is expected[1] is True  # the with block closed the logger
    assert got[2] == expected[2] == ["UserWarning"]  # a missing metric and a None state attribute warn, as in ignite


def test_the_contrib_path_and_embers_own_loggers_are_instances() -> None:
    assert ember.contrib.handlers.base_logger.BaseLogger is ember.handlers.base_logger.BaseLogger
    assert isinstance(ember.handlers.CSVLogger.__new__(ember.handlers.CSVLogger), ember.handlers.base_logger.BaseLogger)
    model = torch.nn.Linear(2, 1)
    assert isinstance(
        ember.handlers.OutputHandler("t", metric_names="all"), ember.handlers.base_logger.BaseOutputHandler
    )
    assert isinstance(ember.handlers.WeightsScalarHandler(model), ember.handlers.base_logger.BaseWeightsHandler)
    assert isinstance(
        ember.handlers.OptimizerParamsHandler(torch.optim.SGD(model.parameters(), lr=0.1)),
        ember.handlers.base_logger.BaseOptimizerParamsHandler,
    )
    assert ember.handlers.utils.global_step_from_engine is ember.handlers.global_step_from_engine


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda b: b.BaseOutputHandler("t"), ValueError, "logs nothing"),
        (lambda b: b.BaseOutputHandler("t", metric_names="loss"), TypeError, "metric_names must be a list"),
        (lambda b: b.BaseOutputHandler("t", output_transform=3), TypeError, "output_transform must be callable"),
        (
            lambda b: b.BaseOutputHandler("t", "all", global_step_transform=lambda: 0),
            TypeError,
            "global_step_transform",
        ),
        (lambda b: b.BaseOptimizerParamsHandler(object()), TypeError, "optimizer must be"),
        (lambda b: b.BaseWeightsHandler(object()), TypeError, "model must be"),
        (lambda b: b.BaseWeightsHandler(torch.nn.Linear(1, 1), whitelist="weight"), TypeError, "whitelist must be"),
        (lambda b: b.BaseWeightsScalarHandler(torch.nn.Linear(1, 1), reduction=lambda t: t), TypeError, "one number"),
    ],
)
def test_bad_arguments_are_refused_at_construction(build: Any, error: type, message: str) -> None:
    class Concrete:
        """Concrete subclasses of the bases (the abstract __call__ given)."""

    base = ember.handlers.base_logger
    namespace = {
        name: type(name, (getattr(base, name),), {"__call__": lambda self, engine, logger, event_name: None})
        for name in (
            "BaseOutputHandler",
            "BaseOptimizerParamsHandler",
            "BaseWeightsHandler",
            "BaseWeightsScalarHandler",
        )
    }
    with pytest.raises(error, match=message):
        build(type("Bases", (Concrete,), namespace))


def test_attach_refuses_an_unknown_event_and_a_non_engine() -> None:
    ListLogger, _, _ = logger_classes(ember.handlers.base_logger)
    logger = ListLogger()
    trainer = ember.engine.Engine(lambda engine, batch: None)
    with pytest.raises(ValueError, match="is not an event of this engine"):
        logger.attach(trainer, lambda *args: None, "nope")
    with pytest.raises(TypeError, match="must be an ember Engine"):
        logger.attach(object(), lambda *args: None, ember.engine.Events.COMPLETED)
