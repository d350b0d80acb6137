"""The supervised evaluator, prepare_batch, and the factories' answers to bad input."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections import namedtuple
from typing import Any

import pytest
import torch
from torch import nn

from ember.engine import Engine, Events
from ember.supervised import (
    create_supervised_evaluator,
    create_supervised_trainer,
    prepare_batch,
    supervised_evaluation_step,
    supervised_training_step,
)

Pair = namedtuple("Pair", ["x", "y"])


def make_data(batches: int = 3, batch_size: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(batch_size, 5, generator=generator), torch.randint(0, 3, (batch_size,), generator=generator))
        for _ in range(batches)
    ]


class ModeRecorder(nn.Module):
    """A classifier with a BatchNorm that records its mode on each forward."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 3)
        self.norm = nn.BatchNorm1d(3)
        self.forward_modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_modes.append(self.training)
        return self.norm(self.linear(x))


# ---------------------------------------------------------------------------------------------- evaluator


@pytest.mark.parametrize("start_in_train_mode", [True, False])
def test_evaluator_runs_in_eval_mode_and_leaves_the_model_in_it(start_in_train_mode: bool) -> None:
    """As ignite's evaluator: no mode is put back, so inference code after it runs without dropout."""
    model = ModeRecorder()
    model.train(start_in_train_mode)
    evaluator = create_supervised_evaluator(model)
    evaluator.run(make_data())
    assert model.forward_modes == [False, False, False]
    assert not model.training and not model.norm.training


def test_a_submodule_put_in_train_mode_at_epoch_started_stays_so_from_the_first_batch() -> None:
    """The evaluator switches to eval mode at STARTED, not at the first batch, overriding no handler."""
    model = ModeRecorder()
    model.train()
    norm_modes: list[bool] = []
    model.norm.register_forward_pre_hook(lambda module, args: norm_modes.append(module.training))
    evaluator = create_supervised_evaluator(model)
    evaluator.add_event_handler(Events.EPOCH_STARTED, lambda: model.norm.train())
    evaluator.run(make_data())
    assert model.forward_modes == [False] * 3 and norm_modes == [True] * 3


def test_evaluator_leaves_eval_mode_when_the_run_fails() -> None:
    model = ModeRecorder()
    model.train()

    def failing_output(x: Any, y: Any, y_pred: Any) -> Any:
        raise LookupError("no such output")

    with pytest.raises(LookupError, match="no such output"):
        create_supervised_evaluator(model, output_transform=failing_output).run(make_data())
    assert model.forward_modes == [False] and not model.training and not model.norm.training


@pytest.mark.parametrize(("inference_mode", "is_inference"), [(True, True), (False, False)])
def test_evaluator_computes_no_gradients(inference_mode: bool, is_inference: bool) -> None:
    model = ModeRecorder()
    evaluator = create_supervised_evaluator(model, inference_mode=inference_mode)
    outputs: list[torch.Tensor] = []
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: outputs.append(engine.state.output[0]))
    evaluator.run(make_data())
    assert all(not y_pred.requires_grad and y_pred.grad_fn is None for y_pred in outputs)
    assert all(torch.is_inference(y_pred) is is_inference for y_pred in outputs)
    assert all(parameter.grad is None for parameter in model.parameters())


def test_evaluator_default_output_is_prediction_and_target() -> None:
    model = nn.Linear(5, 3)
    data = make_data()
    evaluator = create_supervised_evaluator(model)
    outputs: list[Any] = []
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: outputs.append(engine.state.output))
    evaluator.run(data)
    for (y_pred, y), (x, target) in zip(outputs, data):
        torch.testing.assert_close(y_pred, model(x).detach())
        assert y is target


def test_evaluator_model_fn_model_transform_and_bfloat16() -> None:
    model = nn.Linear(5, 3)
    evaluator = create_supervised_evaluator(
        model,
        model_fn=lambda model, x: {"logits": model(x["features"])},
        model_transform=lambda output: output["logits"],
        amp_dtype=torch.bfloat16,
    )
    data = [({"features": torch.randn(4, 5)}, torch.zeros(4)) for _ in range(2)]
    y_pred, _ = evaluator.run(data).output
    assert y_pred.shape == (4, 3) and y_pred.dtype == torch.bfloat16


class Accuracy:
    """A minimal metric with attach(engine, name), as ember metrics have."""

    def __init__(self) -> None:
        self.correct = self.total = 0

    def reset(self) -> None:
        self.correct = self.total = 0

    def update(self, output: tuple[torch.Tensor, torch.Tensor]) -> None:
        y_pred, y = output
        self.correct += int((y_pred.argmax(dim=1) == y).sum())
        self.total += len(y)

    def attach(self, engine: Engine, name: str) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: self.update(engine.state.output))
        engine.add_event_handler(
            Events.COMPLETED, lambda engine: engine.state.metrics.__setitem__(name, self.correct / self.total)
        )


def reference_accuracy(model: nn.Module, data: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    with torch.no_grad():
        correct = sum(int((model(x).argmax(dim=1) == y).sum()) for x, y in data)
    return correct / sum(len(y) for _, y in data)


def test_evaluator_attaches_the_metrics_it_is_given() -> None:
    model = nn.Linear(5, 3)
    data = make_data(5)
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy()})
    evaluator.run(data)
    assert evaluator.state.metrics == {"accuracy": pytest.approx(reference_accuracy(model, data))}


def test_evaluator_wraps_a_torchmetrics_metric() -> None:
    torchmetrics = pytest.importorskip("torchmetrics")
    metrics_module = importlib.import_module("ember.metrics") if importlib.util.find_spec("ember.metrics") else None
    if metrics_module is None or not hasattr(metrics_module, "as_metric"):
        pytest.skip("ember.metrics.as_metric, which wraps torchmetrics metrics, is not available")
    model = nn.Linear(5, 3)
    data = make_data(5)
    accuracy = torchmetrics.classification.MulticlassAccuracy(num_classes=3, average="micro")
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": accuracy})
    evaluator.run(data)
    assert float(evaluator.state.metrics["accuracy"]) == pytest.approx(reference_accuracy(model, data))


def test_evaluation_step_in_a_process_function_of_ones_own() -> None:
    model = ModeRecorder()
    step = supervised_evaluation_step(model, output_transform=lambda x, y, y_pred: y_pred.argmax(dim=1))

    def process(engine: Engine, batch: Any) -> Any:
        return {"predicted": step(engine, batch), "size": len(batch[1])}

    evaluator = Engine(process)
    step.attach(evaluator)
    output = evaluator.run(make_data()).output
    assert output["predicted"].shape == (4,) and output["size"] == 4
    assert not model.training and model.forward_modes == [False] * 3


# ---------------------------------------------------------------------------------------------- prepare_batch


def on_meta(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "meta"


def test_prepare_batch_moves_nested_tensors_and_keeps_the_rest() -> None:
    x = {"image": torch.zeros(2, 3), "parts": [torch.ones(2), "label"], "pair": Pair(torch.ones(1), 5)}
    y = (torch.zeros(2), None)
    moved_x, moved_y = prepare_batch([x, y], device="meta", non_blocking=True)
    assert on_meta(moved_x["image"]) and on_meta(moved_x["parts"][0]) and moved_x["parts"][1] == "label"
    assert isinstance(moved_x["parts"], list)
    assert isinstance(moved_x["pair"], Pair) and on_meta(moved_x["pair"].x) and moved_x["pair"].y == 5
    assert isinstance(moved_y, tuple) and on_meta(moved_y[0]) and moved_y[1] is None
    assert x["image"].device.type == "cpu"  # the batch itself is not modified


def test_prepare_batch_splits_a_namedtuple_and_leaves_tensors_without_a_device() -> None:
    batch = Pair(torch.ones(3), torch.zeros(3))
    x, y = prepare_batch(batch)
    assert x is batch.x and y is batch.y


def test_trainer_moves_model_and_batches_to_the_device() -> None:
    model = nn.Linear(5, 3)
    seen: list[str] = []
    evaluator = create_supervised_evaluator(
        model, device="meta", output_transform=lambda x, y, y_pred: seen.extend([x.device.type, y_pred.device.type])
    )
    evaluator.run(make_data(1))
    assert seen == ["meta", "meta"] and model.weight.device.type == "meta"


@pytest.mark.parametrize(
    ("batch", "shown"),
    [
        ((torch.zeros(2, 3), torch.zeros(2), 7), "tuple of 3 items (Tensor[2, 3], Tensor[2], int)"),
        ({"x": torch.zeros(2), "y": torch.zeros(2)}, "dict {'x': Tensor[2], 'y': Tensor[2]}"),
        (torch.zeros(2, 5), "Tensor[2, 5]"),
        ([torch.zeros(1)], "list of 1 items (Tensor[1])"),
    ],
    ids=["three-items", "dict", "tensor", "one-item"],
)
def test_unsplittable_batch_is_a_clear_error(batch: Any, shown: str) -> None:
    message = re.escape(shown) + r".*Pass prepare_batch=fn\(batch, device, non_blocking\)"
    with pytest.raises(ValueError, match=message):
        prepare_batch(batch)
    model = nn.Linear(5, 3)
    trainer = create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match=message):
        trainer.run([batch])


# ---------------------------------------------------------------------------------------------- bad input

MODEL = nn.Linear(5, 3)
OPTIMIZER = torch.optim.SGD(MODEL.parameters(), lr=0.1)
LOSS = nn.CrossEntropyLoss()

TRAINER_ERRORS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("model", {"model": lambda x: x}, TypeError, r"model must be a torch.nn.Module, got function"),
    ("optimizer", {"optimizer": "sgd"}, TypeError, r"optimizer must be a torch.optim.Optimizer, got str"),
    ("loss_fn", {"loss_fn": None}, TypeError, r"loss_fn must be a callable \(y_pred, y\) -> loss tensor, got None"),
    (
        "accumulation=0",
        {"gradient_accumulation_steps": 0},
        ValueError,
        r"gradient_accumulation_steps must be >= 1, got 0",
    ),
    ("accumulation=2.0", {"gradient_accumulation_steps": 2.0}, TypeError, r"must be an integer, got 2.0 \(float\)"),
    ("amp float32", {"amp_dtype": torch.float32}, ValueError, r"amp_dtype=torch.float32 is not supported"),
    ("amp string", {"amp_dtype": "bfloat16"}, TypeError, r"amp_dtype must be a torch.dtype.*got 'bfloat16' \(str\)"),
    (
        "float16 on cpu",
        {"amp_dtype": torch.float16},
        ValueError,
        r"float16 was requested for a model on the CPU.*bfloat16",
    ),
    (
        "clip norm 0",
        {"clip_grad_norm": 0},
        ValueError,
        r"clip_grad_norm must be a positive, finite number, got clip_grad_norm=0",
    ),
    ("clip value inf", {"clip_grad_value": float("inf")}, ValueError, r"clip_grad_value must be a positive, finite"),
    ("clip norm str", {"clip_grad_norm": "1"}, TypeError, r"clip_grad_norm must be a positive number or None, got '1'"),
    ("device type", {"device": 3}, TypeError, r"device must be a str or torch.device, got 3 \(int\)"),
    ("device name", {"device": "warp-drive"}, ValueError, r"device='warp-drive' is not a valid torch device"),
    ("prepare_batch", {"prepare_batch": "xy"}, TypeError, r"prepare_batch must be a callable"),
    ("model_fn", {"model_fn": 1}, TypeError, r"model_fn must be a callable \(model, x\)"),
    ("grad_scaler", {"grad_scaler": object()}, TypeError, r"grad_scaler must be a torch.amp.GradScaler or None"),
]


@pytest.mark.parametrize(
    ("arguments", "error", "message"), [case[1:] for case in TRAINER_ERRORS], ids=[case[0] for case in TRAINER_ERRORS]
)
def test_trainer_rejects_bad_arguments_at_construction(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    given = {"model": MODEL, "optimizer": OPTIMIZER, "loss_fn": LOSS, **arguments}
    with pytest.raises(error, match=message):
        create_supervised_trainer(**given)


EVALUATOR_ERRORS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("model", {"model": "net"}, TypeError, r"model must be a torch.nn.Module, got str"),
    ("float16 on cpu", {"amp_dtype": torch.float16}, ValueError, r"float16 was requested for a model on the CPU"),
    ("metrics list", {"metrics": [Accuracy()]}, TypeError, r"metrics must be a mapping of names to metrics, got list"),
    ("metric name", {"metrics": {1: Accuracy()}}, TypeError, r"metrics keys must be names \(str\), got 1"),
    ("not a metric", {"metrics": {"acc": 0.5}}, TypeError, r"metrics\['acc'\] is a float, which is not a metric"),
    ("output_transform", {"output_transform": None}, TypeError, r"output_transform must be a callable"),
]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [case[1:] for case in EVALUATOR_ERRORS],
    ids=[case[0] for case in EVALUATOR_ERRORS],
)
def test_evaluator_rejects_bad_arguments_at_construction(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        create_supervised_evaluator(**{"model": MODEL, **arguments})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error given where there is no CUDA device")
@pytest.mark.parametrize("factory", ["trainer", "evaluator"])
def test_cuda_device_without_cuda_is_a_clear_error(factory: str) -> None:
    message = r"device='cuda' was requested, but this torch has no usable CUDA device.*Pass device='cpu'"
    with pytest.raises(ValueError, match=message):
        if factory == "trainer":
            create_supervised_trainer(MODEL, OPTIMIZER, LOSS, device="cuda")
        else:
            create_supervised_evaluator(MODEL, device="cuda")


def test_a_step_attaches_itself_to_the_engine_that_first_calls_it() -> None:
    """Engine(step) is a complete trainer or evaluator: no attach call is needed."""
    model = ModeRecorder()
    model.eval()
    trainer = Engine(supervised_training_step(model, torch.optim.SGD(model.parameters(), lr=0.1), LOSS))
    trainer.run(make_data(), max_epochs=2)
    assert trainer.state.optimizer_step == 6 and model.forward_modes == [True] * 6
    assert model.training  # left in train mode, as by ignite's trainer
    model.forward_modes.clear()
    evaluator = Engine(supervised_evaluation_step(model))
    y_pred, _ = evaluator.run(make_data()).output
    assert y_pred.shape == (4, 3) and model.forward_modes == [False] * 3 and not model.training


def test_a_step_serves_one_engine() -> None:
    step = supervised_training_step(MODEL, OPTIMIZER, LOSS)
    first = Engine(step)
    step.attach(first)
    step.attach(first)  # again on the same engine: nothing changes
    with pytest.raises(RuntimeError, match=r"already attached to an engine; a step serves one engine"):
        step.attach(Engine(step))
    with pytest.raises(RuntimeError, match=r"already attached to an engine; a step serves one engine"):
        Engine(step).run(make_data())
    evaluation = supervised_evaluation_step(MODEL)
    evaluator = Engine(evaluation)
    evaluator.run(make_data())
    with pytest.raises(RuntimeError, match=r"This evaluation step is already attached to an engine"):
        evaluation.attach(Engine(evaluation))


def test_a_step_whose_engine_is_gone_serves_a_new_one() -> None:
    step = supervised_evaluation_step(MODEL)
    Engine(step).run(make_data())  # the engine is freed right after its run
    assert Engine(step).run(make_data()).output[0].shape == (4, 3)
