"""The supervised factories and steps as pytorch-ignite 0.5 spells them: signatures, amp_mode, scaler, plain steps."""

from __future__ import annotations

import gc
import inspect
import subprocess
import sys
import weakref
from typing import Any

import pytest
import torch
from torch import nn

from ember.engine import (
    DeterministicEngine,
    Engine,
    Events,
    create_supervised_evaluator,
    create_supervised_trainer,
    supervised_evaluation_step,
    supervised_evaluation_step_amp,
    supervised_training_step,
    supervised_training_step_amp,
)
from ember.metrics import Accuracy, Loss
from ember.supervised import prepare_batch

Batch = tuple[torch.Tensor, torch.Tensor]


def make_data(batches: int = 3, seed: int = 0) -> list[Batch]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 5, generator=generator), torch.randint(0, 3, (4,), generator=generator)) for _ in range(batches)
    ]


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)


# pytorch-ignite 0.5.5's positional parameters, in order (read from its documentation and signatures)
IGNITE_PARAMETERS = {
    create_supervised_trainer: [
        "model",
        "optimizer",
        "loss_fn",
        "device",
        "non_blocking",
        "prepare_batch",
        "model_transform",
        "output_transform",
        "deterministic",
        "amp_mode",
        "scaler",
        "gradient_accumulation_steps",
        "model_fn",
    ],
    create_supervised_evaluator: [
        "model",
        "metrics",
        "device",
        "non_blocking",
        "prepare_batch",
        "model_transform",
        "output_transform",
        "amp_mode",
        "model_fn",
    ],
    supervised_training_step: [
        "model",
        "optimizer",
        "loss_fn",
        "device",
        "non_blocking",
        "prepare_batch",
        "model_transform",
        "output_transform",
        "gradient_accumulation_steps",
        "model_fn",
    ],
    supervised_training_step_amp: [
        "model",
        "optimizer",
        "loss_fn",
        "device",
        "non_blocking",
        "prepare_batch",
        "model_transform",
        "output_transform",
        "scaler",
        "gradient_accumulation_steps",
        "model_fn",
    ],
    supervised_evaluation_step: [
        "model",
        "device",
        "non_blocking",
        "prepare_batch",
        "model_transform",
        "output_transform",
        "model_fn",
    ],
    supervised_evaluation_step_amp: [
        "model",
        "device",
        "non_blocking",
        "prepare_batch",
        "model_transform",
        "output_transform",
        "model_fn",
    ],
}
IGNITE_DEFAULTS = {
    "device": None,
    "non_blocking": False,
    "deterministic": False,
    "amp_mode": None,
    "gradient_accumulation_steps": 1,
    "metrics": None,
}


@pytest.mark.parametrize("function", list(IGNITE_PARAMETERS), ids=lambda function: function.__name__)
def test_positional_parameters_are_ignites_and_ember_options_are_keyword_only(function: Any) -> None:
    parameters = list(inspect.signature(function).parameters.values())
    positional = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == IGNITE_PARAMETERS[function]
    for parameter in parameters:
        if parameter.name in IGNITE_DEFAULTS:
            assert parameter.default == IGNITE_DEFAULTS[parameter.name], parameter.name
    assert parameters[-1].kind is inspect.Parameter.VAR_KEYWORD  # ember's options, keyword-only


def test_trainer_scaler_default_is_false_and_step_amp_scaler_default_is_none() -> None:
    assert inspect.signature(create_supervised_trainer).parameters["scaler"].default is False
    assert inspect.signature(supervised_training_step_amp).parameters["scaler"].default is None


def hand_written(data: list[Batch], epochs: int, steps: int = 1) -> tuple[list[torch.Tensor], list[float]]:
    model = make_model()
    optimizer = sgd(model)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        for index, (x, y) in enumerate(data):
            if index % steps == 0:
                optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            (loss / steps if steps > 1 else loss).backward()
            losses.append(loss.item())
            if (index + 1) % steps == 0:
                optimizer.step()
    return [p.detach().clone() for p in model.parameters()], losses


def test_engine_of_a_plain_training_step_matches_a_hand_written_loop() -> None:
    """Engine(supervised_training_step(...)) needs no attach call, and its default output is loss.item()."""
    data = make_data(4)
    model = make_model()
    trainer = Engine(supervised_training_step(model, sgd(model), nn.CrossEntropyLoss()))
    outputs: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: outputs.append(engine.state.output))
    trainer.run(data, max_epochs=2)
    expected_weights, expected_losses = hand_written(data, 2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), expected_weights))
    assert outputs == expected_losses
    assert trainer.state.optimizer_step == 8


def test_factory_called_positionally_as_in_ignite() -> None:
    """Every ignite argument given by position lands where ignite puts it."""
    data = make_data(4)
    model = make_model()
    seen: list[str] = []

    def my_prepare_batch(batch: Any, device: Any = None, non_blocking: bool = False) -> Any:
        seen.append("prepare_batch")
        return prepare_batch(batch, device, non_blocking)

    trainer = create_supervised_trainer(
        model,
        sgd(model),
        nn.CrossEntropyLoss(),
        None,  # device
        False,  # non_blocking
        my_prepare_batch,
        lambda output: output,  # model_transform
        lambda x, y, y_pred, loss: ("out", loss.item()),  # output_transform
        False,  # deterministic
        None,  # amp_mode
        False,  # scaler
        2,  # gradient_accumulation_steps
        lambda model, x: model(x),  # model_fn
    )
    state = trainer.run(data, max_epochs=1)
    assert state.output[0] == "out" and state.optimizer_step == 2 and seen == ["prepare_batch"] * 4
    expected_weights, _ = hand_written(data, 1, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), expected_weights))


def test_evaluator_positional_model_transform_comes_before_output_transform() -> None:
    model = make_model()
    evaluator = create_supervised_evaluator(
        model, None, None, False, prepare_batch, lambda out: out * 0, lambda x, y, y_pred: y_pred.sum().item()
    )
    assert evaluator.run(make_data()).output == 0.0


def test_engine_of_a_plain_evaluation_step_outputs_prediction_and_target() -> None:
    model = make_model()
    data = make_data()
    evaluator = Engine(supervised_evaluation_step(model))
    y_pred, y = evaluator.run(data).output
    assert torch.equal(y_pred, model(data[-1][0]).detach()) and y is data[-1][1]


# ---------------------------------------------------------------------------------------------- amp_mode, scaler


def test_amp_mode_amp_with_bfloat16_runs_under_autocast_on_the_cpu() -> None:
    model = make_model()
    trainer = create_supervised_trainer(
        model,
        sgd(model),
        nn.CrossEntropyLoss(),
        amp_mode="amp",
        amp_dtype=torch.bfloat16,
        output_transform=lambda x, y, y_pred, loss: y_pred.dtype,
    )
    assert trainer.run(make_data()).output == torch.bfloat16
    assert trainer.state.scaler is None  # ignite's amp_mode='amp' scales only when asked
    evaluator = create_supervised_evaluator(model, amp_mode="amp", amp_dtype=torch.bfloat16)
    assert evaluator.run(make_data()).output[0].dtype == torch.bfloat16
    step = supervised_evaluation_step_amp(model, amp_dtype=torch.bfloat16)
    assert Engine(step).run(make_data()).output[0].dtype == torch.bfloat16
    assert model[0].weight.dtype == torch.float32


def test_a_disabled_grad_scaler_is_used_as_given_and_changes_nothing() -> None:
    data = make_data(4)
    plain_model, scaled_model = make_model(), make_model()
    create_supervised_trainer(
        plain_model, sgd(plain_model), nn.CrossEntropyLoss(), amp_mode="amp", amp_dtype=torch.bfloat16
    ).run(data, max_epochs=2)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    trainer = Engine(
        supervised_training_step_amp(
            scaled_model, sgd(scaled_model), nn.CrossEntropyLoss(), scaler=scaler, amp_dtype=torch.bfloat16
        )
    )
    trainer.run(data, max_epochs=2)
    assert trainer.state.scaler is scaler and trainer.state.grad_scaler is scaler
    assert all(torch.equal(a, b) for a, b in zip(plain_model.parameters(), scaled_model.parameters()))


def test_scaler_true_creates_a_grad_scaler_kept_in_state() -> None:
    model = make_model()
    trainer = create_supervised_trainer(
        model, sgd(model), nn.CrossEntropyLoss(), amp_mode="amp", amp_dtype=torch.bfloat16, scaler=True
    )
    scaler = trainer.state.scaler
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    trainer.run(make_data(), max_epochs=2)
    assert scaler.state_dict()["scale"] == 2.0**16  # it ran: finite gradients, no growth before 2000 steps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 autocast needs a CUDA device")
def test_amp_mode_amp_on_cuda_is_float16_with_a_scaler_when_asked() -> None:  # pragma: no cover - GPU only
    model = make_model().cuda()
    trainer = create_supervised_trainer(
        model,
        sgd(model),
        nn.CrossEntropyLoss(),
        device="cuda",
        amp_mode="amp",
        scaler=True,
        output_transform=lambda x, y, y_pred, loss: y_pred.dtype,
    )
    assert trainer.run(make_data()).output == torch.float16
    assert isinstance(trainer.state.scaler, torch.amp.GradScaler)


AMP_ERRORS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("apex", {"amp_mode": "apex"}, ValueError, r"amp_mode='apex' \(NVIDIA apex\) is not supported.*amp_mode='amp'"),
    ("unknown mode", {"amp_mode": "fp16"}, ValueError, r"amp_mode must be None or 'amp', got amp_mode='fp16'"),
    (
        "amp on cpu",
        {"amp_mode": "amp"},
        ValueError,
        r"amp_mode='amp' \(float16 autocast\) was requested for a model on the CPU.*amp_dtype=torch.bfloat16",
    ),
    ("scaler without amp", {"scaler": True}, ValueError, r"scaler=True asks for loss scaling.*mixed precision is off"),
    ("scaler type", {"scaler": "yes"}, TypeError, r"scaler must be a bool or a torch.amp.GradScaler, got 'yes'"),
    (
        "both scalers",
        {"scaler": True, "grad_scaler": torch.amp.GradScaler("cpu"), "amp_dtype": torch.bfloat16},
        ValueError,
        r"Both scaler and grad_scaler were given",
    ),
    ("unknown option", {"amp_dtpye": torch.bfloat16}, TypeError, r"unexpected keyword arguments \['amp_dtpye'\]"),
    ("deterministic type", {"deterministic": "yes"}, TypeError, r"deterministic must be a bool, got 'yes'"),
]


@pytest.mark.parametrize(
    ("arguments", "error", "message"), [case[1:] for case in AMP_ERRORS], ids=[case[0] for case in AMP_ERRORS]
)
def test_trainer_amp_and_option_errors(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    model = make_model()
    with pytest.raises(error, match=message):
        create_supervised_trainer(model, sgd(model), nn.CrossEntropyLoss(), **arguments)


def test_evaluator_amp_errors() -> None:
    model = make_model()
    with pytest.raises(ValueError, match=r"amp_mode='apex' \(NVIDIA apex\) is not supported"):
        create_supervised_evaluator(model, amp_mode="apex")
    with pytest.raises(ValueError, match=r"amp_mode='amp' \(float16 autocast\) was requested for a model on the CPU"):
        supervised_evaluation_step_amp(model)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['clip_grad_norm'\].*'inference_mode'"):
        create_supervised_evaluator(model, clip_grad_norm=1.0)  # type: ignore[call-arg]


# ---------------------------------------------------------------------------------------------- user callables


def one(a: Any) -> Any:
    return a


def two(a: Any, b: Any) -> Any:
    return a


CALLABLE_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("prepare_batch", {"prepare_batch": one}, r"prepare_batch is called as \(batch, device, non_blocking\)"),
    ("output_transform", {"output_transform": two}, r"output_transform is called as \(x, y, y_pred, loss\)"),
    ("model_transform", {"model_transform": two}, r"model_transform is called as \(model output\) -> y_pred"),
    ("model_fn", {"model_fn": one}, r"model_fn is called as \(model, x\)"),
    ("loss_fn", {"loss_fn": one}, r"loss_fn is called as \(y_pred, y\)"),
]


@pytest.mark.parametrize(
    ("arguments", "message"), [case[1:] for case in CALLABLE_ERRORS], ids=[case[0] for case in CALLABLE_ERRORS]
)
def test_trainer_checks_the_signatures_of_user_callables(arguments: dict[str, Any], message: str) -> None:
    model = make_model()
    given = {"model": model, "optimizer": sgd(model), "loss_fn": nn.CrossEntropyLoss(), **arguments}
    with pytest.raises(TypeError, match=message + r".*signature .* cannot take that call"):
        create_supervised_trainer(**given)


def test_a_user_callable_that_is_not_callable() -> None:
    model = make_model()
    with pytest.raises(TypeError, match=r"output_transform must be a callable \(x, y, y_pred, loss\) -> output, got 3"):
        create_supervised_trainer(model, sgd(model), nn.CrossEntropyLoss(), output_transform=3)  # type: ignore[arg-type]


def test_evaluator_checks_output_transform_takes_three_arguments() -> None:
    with pytest.raises(TypeError, match=r"output_transform is called as \(x, y, y_pred\) -> output"):
        create_supervised_evaluator(make_model(), output_transform=lambda x, y, y_pred, loss: y_pred)
    # a callable with defaults or *args binds, and so does a builtin without a signature
    create_supervised_evaluator(make_model(), output_transform=lambda *values: values[2])
    create_supervised_trainer(make_model(), sgd(make_model()), nn.CrossEntropyLoss(), output_transform=print)


def test_arguments_are_checked_before_the_model_is_moved() -> None:
    model = make_model()
    with pytest.raises(ValueError, match=r"gradient_accumulation_steps must be >= 1"):
        create_supervised_trainer(
            model, sgd(model), nn.CrossEntropyLoss(), device="meta", gradient_accumulation_steps=0
        )
    with pytest.raises(TypeError, match=r"metrics must be a mapping"):
        create_supervised_evaluator(model, [Accuracy()], device="meta")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"output_transform is called as"):
        create_supervised_evaluator(model, device="meta", output_transform=one)
    assert all(parameter.device.type == "cpu" for parameter in model.parameters())
    create_supervised_evaluator(model, device="meta")  # a valid call does move it
    assert all(parameter.device.type == "meta" for parameter in model.parameters())


def test_deterministic_true_gives_a_deterministic_engine() -> None:
    model = make_model()
    trainer = create_supervised_trainer(model, sgd(model), nn.CrossEntropyLoss(), deterministic=True)
    assert isinstance(trainer, DeterministicEngine)
    assert type(create_supervised_trainer(model, sgd(model), nn.CrossEntropyLoss())) is Engine


# ---------------------------------------------------------------------------------------------- lifetime, imports


def build_run_and_drop(deterministic: bool) -> list[weakref.ref[Engine]]:
    """Build a trainer, an evaluator run by it, and an engine of a plain step; run them; return weak references."""
    model = make_model()
    data = make_data()
    trainer = create_supervised_trainer(model, sgd(model), nn.CrossEntropyLoss(), deterministic=deterministic)
    evaluator = create_supervised_evaluator(
        model, metrics={"accuracy": Accuracy(), "loss": Loss(nn.CrossEntropyLoss())}
    )
    plain = Engine(supervised_training_step(model, sgd(model), nn.CrossEntropyLoss()))
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run(data))
    trainer.run(data, max_epochs=2)
    plain.run(data)
    assert evaluator.state.metrics["accuracy"] >= 0
    return [weakref.ref(engine) for engine in (trainer, evaluator, plain)]


@pytest.mark.parametrize("deterministic", [False, True])
def test_factory_engines_are_freed_by_reference_counting(deterministic: bool) -> None:
    """No reference cycle keeps a trainer or an evaluator alive until the garbage collector runs."""
    gc.collect()
    gc.disable()
    try:
        references = build_run_and_drop(deterministic)
        assert [reference() for reference in references] == [None, None, None]
    finally:
        gc.enable()


def test_importing_ember_engine_loads_neither_supervised_nor_metrics() -> None:
    script = (
        "import sys\n"
        "import ember.engine\n"
        "loaded = [name for name in ('ember.supervised', 'ember.metrics', 'ember.engine.deterministic') if name in sys.modules]\n"
        "assert loaded == [], loaded\n"
        "from ember.engine import create_supervised_trainer, DeterministicEngine\n"
        "import ember.supervised, ember.engine.deterministic\n"
        "assert create_supervised_trainer is ember.supervised.create_supervised_trainer\n"
        "assert DeterministicEngine is ember.engine.deterministic.DeterministicEngine\n"
        "assert 'ember.metrics' not in sys.modules, 'building a trainer needs no metrics'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_unknown_name_of_ember_engine_is_an_attribute_error() -> None:
    import ember.engine

    with pytest.raises(AttributeError, match=r"module 'ember.engine' has no attribute 'create_trainer'"):
        ember.engine.create_trainer  # noqa: B018
