"""The supervised trainer against hand-written loops: accumulation, clipping, mixed precision, modes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ember.engine import Engine, Events
from ember.supervised import (
    TrainerEvents,
    create_supervised_evaluator,
    create_supervised_trainer,
    supervised_training_step,
)

Batch = tuple[torch.Tensor, torch.Tensor]


def make_data(batches: int, batch_size: int = 4, seed: int = 0) -> list[Batch]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch_size, 5, generator=generator), torch.randint(0, 3, (batch_size,), generator=generator))
        for _ in range(batches)
    ]


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


def make_optimizer(model: nn.Module, lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in model.parameters()]


def assert_bit_identical(first: list[torch.Tensor], second: list[torch.Tensor]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert torch.equal(a, b), (a - b).abs().max()


def hand_written_run(
    data: list[Batch], epochs: int, steps: int = 1, clip_norm: float | None = None, clip_value: float | None = None
) -> list[torch.Tensor]:
    """The reference: the plain loop a user would write, with accumulation over ``steps`` batches."""
    model = make_model()
    optimizer = make_optimizer(model)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for index, (x, y) in enumerate(data):
            if index % steps == 0:
                optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            (loss / steps if steps > 1 else loss).backward()
            waiting = index % steps + 1
            if waiting == steps or index == len(data) - 1:
                if waiting < steps:  # the epoch's leftover batches: use their mean gradient
                    for parameter in model.parameters():
                        parameter.grad.mul_(steps / waiting)
                if clip_value is not None:
                    nn.utils.clip_grad_value_(model.parameters(), clip_value)
                if clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                optimizer.step()
    return weights(model)


@pytest.mark.parametrize(
    ("batches", "steps"),
    [(6, 1), (6, 2), (7, 3), (5, 5), (3, 4)],
    ids=["no-accumulation", "k=2-even", "k=3-leftover", "k=epoch", "k>epoch"],
)
def test_trainer_matches_hand_written_loop_bit_for_bit(batches: int, steps: int) -> None:
    data = make_data(batches)
    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), gradient_accumulation_steps=steps
    )
    trainer.run(data, max_epochs=3)
    assert_bit_identical(weights(model), hand_written_run(data, epochs=3, steps=steps))


def test_trainer_over_a_dataloader_matches_hand_written_loop() -> None:
    """A real DataLoader (its batches are lists), shuffled with a seeded generator, both ways."""
    features, targets = torch.cat([x for x, _ in make_data(6)]), torch.cat([y for _, y in make_data(6)])
    dataset = TensorDataset(features, targets)

    def loader() -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(dataset, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(3))

    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), gradient_accumulation_steps=2
    )
    trainer.run(loader(), max_epochs=2)

    reference_loader = loader()
    reference_data: list[Batch] = []
    for _ in range(2):
        reference_data.extend((x, y) for x, y in reference_loader)
    epoch = len(reference_loader)
    expected = make_model()
    optimizer = make_optimizer(expected)
    for start in (0, epoch):
        batches = reference_data[start : start + epoch]
        for index, (x, y) in enumerate(batches):
            if index % 2 == 0:
                optimizer.zero_grad()
            (nn.functional.cross_entropy(expected(x), y) / 2).backward()
            if index % 2 == 1 or index == len(batches) - 1:
                if index % 2 == 0:
                    for parameter in expected.parameters():
                        parameter.grad.mul_(2.0)
                optimizer.step()
    assert_bit_identical(weights(model), weights(expected))


def test_prepare_batch_receives_the_batch_device_and_non_blocking_as_given() -> None:
    calls: list[tuple[Any, Any, Any]] = []

    def recording_prepare_batch(batch: Any, device: Any = None, non_blocking: bool = False) -> tuple[Any, Any]:
        calls.append((batch["id"], device, non_blocking))
        return batch["x"], batch["y"]

    model = nn.Linear(5, 3)
    trainer = create_supervised_trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        device="cpu",
        non_blocking=True,
        prepare_batch=recording_prepare_batch,
    )
    data = [{"id": index, "x": x, "y": y} for index, (x, y) in enumerate(make_data(3))]
    trainer.run(data)
    assert calls == [(0, "cpu", True), (1, "cpu", True), (2, "cpu", True)]


@pytest.mark.parametrize(("batches", "steps"), [(4, 2), (8, 4), (7, 3), (5, 2)])
def test_accumulation_over_small_batches_matches_one_big_batch(batches: int, steps: int) -> None:
    """k batches of a mean-reduced loss give the step of their concatenation; leftovers too."""
    data = make_data(batches)
    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), gradient_accumulation_steps=steps
    )
    trainer.run(data, max_epochs=2)

    big_batches = [
        (torch.cat([x for x, _ in data[i : i + steps]]), torch.cat([y for _, y in data[i : i + steps]]))
        for i in range(0, batches, steps)
    ]
    reference = make_model()
    reference_trainer = create_supervised_trainer(reference, make_optimizer(reference), nn.CrossEntropyLoss())
    reference_trainer.run(big_batches, max_epochs=2)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert trainer.state.optimizer_step == reference_trainer.state.iteration


def expected_optimizer_steps(epoch_length: int, steps: int, epochs: int) -> list[tuple[int, int]]:
    """(iteration, optimizer_step) at each optimizer step: every k batches, and at each epoch's end."""
    expected: list[tuple[int, int]] = []
    count = 0
    for epoch in range(epochs):
        waiting = 0
        for index in range(epoch_length):
            waiting += 1
            if waiting == steps:
                count += 1
                expected.append((epoch * epoch_length + index + 1, count))
                waiting = 0
        if waiting:
            count += 1
            expected.append(((epoch + 1) * epoch_length, count))
    return expected


def recording_trainer(steps: int, **trainer_kwargs: Any) -> tuple[Engine, list[tuple[int, int]]]:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = create_supervised_trainer(
        model, optimizer, nn.MSELoss(), gradient_accumulation_steps=steps, **trainer_kwargs
    )
    fired: list[tuple[int, int]] = []

    @trainer.on(TrainerEvents.OPTIMIZER_STEP_COMPLETED)
    def record(engine: Engine) -> None:
        fired.append((engine.state.iteration, engine.state.optimizer_step))

    return trainer, fired


TINY_BATCH = (torch.ones(1, 2), torch.zeros(1, 1))


@settings(max_examples=30, deadline=None)
@given(epoch_length=st.integers(1, 7), steps=st.integers(1, 4), epochs=st.integers(1, 3), every=st.integers(1, 3))
def test_optimizer_step_counter_and_filtered_event(epoch_length: int, steps: int, epochs: int, every: int) -> None:
    """OPTIMIZER_STEP_COMPLETED fires at each optimizer step; its every= filter counts optimizer steps."""
    trainer, fired = recording_trainer(steps)
    filtered: list[int] = []
    trainer.add_event_handler(
        TrainerEvents.OPTIMIZER_STEP_COMPLETED(every=every), lambda engine: filtered.append(engine.state.optimizer_step)
    )
    trainer.run([TINY_BATCH] * epoch_length, max_epochs=epochs)
    expected = expected_optimizer_steps(epoch_length, steps, epochs)
    assert fired == expected
    assert filtered == [count for _, count in expected if count % every == 0]
    assert trainer.state.optimizer_step == len(expected)


def test_run_ended_by_max_iters_mid_epoch_steps_the_leftover() -> None:
    trainer, fired = recording_trainer(steps=2)
    trainer.run([TINY_BATCH] * 5, max_iters=8)
    assert fired == [(2, 1), (4, 2), (5, 3), (7, 4), (8, 5)]


def test_run_ended_by_terminate_steps_the_leftover() -> None:
    trainer, fired = recording_trainer(steps=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda engine: engine.terminate())
    trainer.run([TINY_BATCH] * 5, max_epochs=2)
    assert fired == [(2, 1), (3, 2)]


def test_epoch_ended_by_terminate_epoch_steps_the_leftover() -> None:
    trainer, fired = recording_trainer(steps=2)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda engine: engine.terminate_epoch())
    trainer.run([TINY_BATCH] * 5, max_epochs=2)
    # epoch 1 ends after iteration 3; epoch 2 runs its 5 iterations, 4 to 8
    assert fired == [(2, 1), (3, 2), (5, 3), (7, 4), (8, 5)]


def test_interrupted_run_keeps_its_accumulation_and_matches_an_uninterrupted_one() -> None:
    data = make_data(7)
    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), gradient_accumulation_steps=3
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda engine: engine.interrupt())
    trainer.run(data, max_epochs=2)
    assert trainer.state.iteration == 4 and trainer.state.optimizer_step == 1
    trainer.run(data, max_epochs=2)
    assert trainer.state.optimizer_step == 6
    assert_bit_identical(weights(model), hand_written_run(data, epochs=2, steps=3))


def test_optimizer_step_counter_is_saved_resumed_and_reset_by_a_new_run() -> None:
    trainer, _ = recording_trainer(steps=2)
    data = [TINY_BATCH] * 4
    trainer.run(data, max_epochs=1)
    saved = trainer.state_dict()
    assert saved["optimizer_step"] == 2

    resumed, fired = recording_trainer(steps=2)
    resumed.load_state_dict(saved)
    resumed.run(data, max_epochs=2)
    assert fired == [(6, 3), (8, 4)]

    trainer.run(data, max_epochs=1)  # a new run counts from zero again
    assert trainer.state.optimizer_step == 2


def test_output_is_the_batch_loss_not_divided_by_the_accumulation() -> None:
    data = make_data(4)
    model = make_model()
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # the weights stay, so the losses can be recomputed
    trainer = create_supervised_trainer(model, frozen, nn.CrossEntropyLoss(), gradient_accumulation_steps=4)
    outputs: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: outputs.append(engine.state.output))
    trainer.run(data)
    with torch.no_grad():
        expected = [nn.functional.cross_entropy(model(x), y).item() for x, y in data]
    assert outputs == pytest.approx(expected, rel=1e-6)
    assert all(isinstance(output, float) for output in outputs)


@pytest.mark.parametrize(
    "clipping", [{"clip_grad_norm": 0.05}, {"clip_grad_value": 0.01}, {"clip_grad_norm": 0.05, "clip_grad_value": 0.01}]
)
@pytest.mark.parametrize("steps", [1, 3])
def test_clipping_matches_hand_written_clipping(clipping: dict[str, float], steps: int) -> None:
    data = make_data(5)
    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), gradient_accumulation_steps=steps, **clipping
    )
    trainer.run(data, max_epochs=2)
    clipped = hand_written_run(
        data, 2, steps, clip_norm=clipping.get("clip_grad_norm"), clip_value=clipping.get("clip_grad_value")
    )
    assert_bit_identical(weights(model), clipped)
    unclipped = hand_written_run(data, 2, steps)
    assert any(not torch.equal(a, b) for a, b in zip(clipped, unclipped)), "the thresholds must bite"


def test_grad_scaler_unscales_before_clipping_and_lives_in_state() -> None:
    """A loss-scaling run equals the plain one: gradients are unscaled before clipping and stepping."""
    data = make_data(5)
    model = make_model()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), clip_grad_norm=0.05, grad_scaler=scaler
    )
    assert trainer.state.grad_scaler is scaler
    trainer.run(data, max_epochs=2)
    for ours, theirs in zip(weights(model), hand_written_run(data, 2, clip_norm=0.05)):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert scaler.state_dict()["scale"] == 2.0**10  # no overflow, no growth yet: the scaler really ran


def test_bfloat16_autocast_on_cpu_trains_to_a_lower_loss() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    data = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    model = make_model()
    dtypes: list[torch.dtype] = []

    def output(x: Any, y: Any, y_pred: torch.Tensor, loss: torch.Tensor) -> float:
        dtypes.append(y_pred.dtype)
        return loss.item()

    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), output_transform=output, amp_dtype=torch.bfloat16
    )
    assert trainer.state.grad_scaler is None
    epoch_losses: list[float] = []
    losses: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: losses.append(engine.state.output))
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: epoch_losses.append(sum(losses[-4:]) / 4))
    trainer.run(data, max_epochs=30)
    assert set(dtypes) == {torch.bfloat16}
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())
    assert epoch_losses[-1] < 0.5 * epoch_losses[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 mixed precision needs a CUDA device")
def test_float16_on_cuda_uses_a_grad_scaler() -> None:
    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), device="cuda", amp_dtype=torch.float16
    )
    scaler = trainer.state.grad_scaler
    assert isinstance(scaler, torch.amp.GradScaler)
    trainer.run(make_data(4), max_epochs=2)
    assert trainer.state.optimizer_step == 8
    assert scaler.get_scale() > 0 and all(p.device.type == "cuda" for p in model.parameters())


def test_model_fn_and_model_transform() -> None:
    """model_fn feeds a model of two inputs; model_transform picks what the loss sees."""

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.left, self.right = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": self.left(a) + self.right(b), "aux": a.sum()}

    model = TwoInputs()
    seen: list[Any] = []
    trainer = create_supervised_trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        model_fn=lambda model, x: model(*x),
        model_transform=lambda output: output["logits"],
        output_transform=lambda x, y, y_pred, loss: seen.append(y_pred.shape) or loss.item(),
    )
    data = [((torch.randn(6, 3), torch.randn(6, 4)), torch.randint(0, 2, (6,))) for _ in range(3)]
    before = weights(model)
    trainer.run(data)
    assert seen == [torch.Size([6, 2])] * 3
    assert all(not torch.equal(a, b) for a, b in zip(before, weights(model)))


class ModeRecorder(nn.Module):
    """Records its mode on each forward and counts calls of train(True) and train(False)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 3)
        self.norm = nn.BatchNorm1d(3)
        self.forward_modes: list[bool] = []
        self.mode_calls = {True: 0, False: 0}

    def train(self, mode: bool = True) -> ModeRecorder:
        self.mode_calls[mode] += 1
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_modes.append(self.training)
        return self.norm(self.linear(x))


def test_trainer_trains_in_train_mode_with_an_evaluator_in_between() -> None:
    """As in ignite, the evaluator leaves eval mode behind and the trainer's next iteration trains again."""
    model = ModeRecorder()
    model.eval()
    model.mode_calls = {True: 0, False: 0}
    trainer = create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    evaluator = create_supervised_evaluator(model)
    data = make_data(4)
    trainer.add_event_handler(Events.ITERATION_COMPLETED(every=2), lambda: evaluator.run(data[:2]))
    trainer.run(data, max_epochs=3)

    # 12 training iterations, each followed every other time by 2 evaluation iterations
    trainer_modes = [mode for index, mode in enumerate(model.forward_modes) if index % 4 in (0, 1)]
    evaluator_modes = [mode for index, mode in enumerate(model.forward_modes) if index % 4 in (2, 3)]
    assert trainer_modes == [True] * 12 and evaluator_modes == [False] * 12
    # train() at STARTED and after each of the 5 evaluations followed by training; eval() once per evaluation
    assert model.mode_calls == {True: 6, False: 6}
    assert not model.training and not model.norm.training  # the evaluation after the last iteration ran last


def test_a_submodule_put_in_eval_mode_at_epoch_started_stays_so_from_the_first_batch() -> None:
    """The trainer switches to train mode at STARTED, not at the first batch, overriding no handler."""
    model = ModeRecorder()
    model.eval()
    norm_modes: list[bool] = []
    model.norm.register_forward_pre_hook(lambda module, args: norm_modes.append(module.training))
    trainer = create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda: model.norm.eval())  # freeze the BatchNorm
    trainer.run(make_data(2), max_epochs=2)
    assert model.forward_modes == [True] * 4 and norm_modes == [False] * 4


def test_trainer_leaves_the_model_in_train_mode_when_the_run_ends_or_fails() -> None:
    """ignite restores no mode: the model is left as the last step set it."""
    model = ModeRecorder()
    model.eval()

    def failing_loss(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise ArithmeticError("boom")

    trainer = create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), failing_loss)
    with pytest.raises(ArithmeticError, match="boom"):
        trainer.run(make_data(2))
    assert model.forward_modes == [True]
    assert model.training and model.norm.training
    model.eval()
    create_supervised_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss()).run(
        make_data(2)
    )
    assert model.training and model.norm.training


def test_training_step_in_a_process_function_of_ones_own() -> None:
    """Two steps (two optimizers) composed in one process function, each attached to the engine."""
    first, second = make_model(1), make_model(2)
    step_first = supervised_training_step(first, make_optimizer(first), nn.CrossEntropyLoss())
    step_second = supervised_training_step(
        second, make_optimizer(second), nn.CrossEntropyLoss(), gradient_accumulation_steps=2
    )

    def process(engine: Engine, batch: Batch) -> tuple[float, float]:
        return step_first(engine, batch), step_second(engine, batch)

    trainer = Engine(process)
    step_first.attach(trainer)
    step_second.attach(trainer)
    trainer.run(make_data(4))
    assert trainer.state.optimizer_step == 4 + 2  # the counter counts the steps of both
    assert isinstance(trainer.state.output[0], float) and isinstance(trainer.state.output[1], float)


@pytest.mark.slow
def test_compiled_model_trains_and_evaluates() -> None:
    data = make_data(4)
    eager = make_model()
    compiled_source = make_model()
    compiled = torch.compile(compiled_source)
    for model in (eager, compiled):
        trainer = create_supervised_trainer(model, make_optimizer(model), nn.CrossEntropyLoss())
        trainer.run(data, max_epochs=2)
    for ours, theirs in zip(compiled_source.parameters(), eager.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)

    compiled.eval()
    evaluator = create_supervised_evaluator(compiled, inference_mode=False)
    y_pred, _ = evaluator.run(data).output
    assert y_pred.shape == (4, 3) and not compiled.training and not compiled_source.training


def test_options_changed_by_a_handler_apply_from_the_next_iteration() -> None:
    """Clipping turned on after a first epoch (a warm-up) applies to the second: the step reads its options anew."""
    data = make_data(4)
    model = make_model()
    step = supervised_training_step(model, make_optimizer(model), nn.CrossEntropyLoss())
    trainer = Engine(step)

    @trainer.on(Events.EPOCH_COMPLETED(once=1))
    def start_clipping() -> None:
        step.clip_grad_norm = 0.5

    trainer.run(data, max_epochs=2)
    reference = make_model()
    optimizer = make_optimizer(reference)
    for epoch in range(2):
        for x, y in data:
            optimizer.zero_grad()
            nn.CrossEntropyLoss()(reference(x), y).backward()
            if epoch == 1:
                nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
            optimizer.step()
    assert_bit_identical(weights(model), weights(reference))
    step.clip_grad_norm = None
    step.output_transform = lambda x, y, y_pred, loss: "custom"
    assert trainer.run(data, max_epochs=3).output == "custom"


def test_leftover_batches_are_stepped_with_a_warning_naming_ignites_difference() -> None:
    """ignite carries leftover batches into the next epoch's window; ember steps them, and says so once."""
    model = make_model()
    trainer = create_supervised_trainer(
        model, make_optimizer(model), nn.CrossEntropyLoss(), gradient_accumulation_steps=2
    )
    with pytest.warns(UserWarning, match=r"1 batch\(es\) left over at iteration 3.*pytorch-ignite does not") as caught:
        trainer.run(make_data(3), max_epochs=2)
    assert len([warning for warning in caught if "left over" in str(warning.message)]) == 1
    assert trainer.state.optimizer_step == 4
