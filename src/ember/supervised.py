"""Supervised training and evaluation: the step functions and the factories that assemble them.

A *step* is a process function ``step(engine, batch) -> output`` plus the few handlers it needs on
its engine (switching the model's mode, stepping a partial gradient accumulation at the end of an
epoch). :func:`supervised_training_step` and :func:`supervised_evaluation_step` build steps you can
call from a process function of your own; :func:`create_supervised_trainer` and
:func:`create_supervised_evaluator` wrap one step in an :class:`~ember.engine.Engine`.

>>> import torch
>>> from torch import nn
>>> model = nn.Linear(4, 2)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
>>> trainer = create_supervised_trainer(model, optimizer, nn.CrossEntropyLoss(), gradient_accumulation_steps=2)
>>> data = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(5)]
>>> state = trainer.run(data, max_epochs=2)
>>> state.iteration, state.optimizer_step  # 5 batches per epoch: steps after batches 2, 4 and 5
(10, 6)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ember.engine.engine import Engine
from ember.engine.events import EventEnum, Events
from ember.utils import apply_to_tensors

__all__ = [
    "EvaluationStep",
    "TrainerEvents",
    "TrainingStep",
    "create_supervised_evaluator",
    "create_supervised_trainer",
    "prepare_batch",
    "supervised_evaluation_step",
    "supervised_training_step",
]

Device = str | torch.device | None
PrepareBatch = Callable[..., tuple[Any, Any]]

_AMP_DTYPES = (torch.bfloat16, torch.float16)


class TrainerEvents(EventEnum):
    """Events a supervised training step fires on its engine, besides the built-in ones.

    ``OPTIMIZER_STEP_COMPLETED`` fires after each optimizer step and counts
    ``engine.state.optimizer_step``, so it takes filters: with gradient accumulation over ``k``
    batches it fires about once every ``k`` iterations, and
    ``TrainerEvents.OPTIMIZER_STEP_COMPLETED(every=100)`` fires after every 100th optimizer step.
    With a float16 grad scaler, a step that the scaler skips (inf or NaN gradients) counts too.
    """

    #: the optimizer has stepped; ``engine.state.optimizer_step`` already counts this step
    OPTIMIZER_STEP_COMPLETED = "optimizer_step_completed"


_OPTIMIZER_STEP_COMPLETED = TrainerEvents.OPTIMIZER_STEP_COMPLETED

# ---------------------------------------------------------------------------------------------- batches


def prepare_batch(batch: Any, device: Device = None, non_blocking: bool = False) -> tuple[Any, Any]:
    """Split ``batch`` into ``(x, y)`` and move the tensors in them to ``device``.

    ``batch`` must be a tuple or list of two items (a namedtuple of two fields counts). Each item
    may itself be a tensor or a tuple, list, dict or namedtuple of tensors; every tensor in it is
    moved with ``tensor.to(device, non_blocking=non_blocking)`` and anything else is left as it is.
    ``device=None`` moves nothing.

    Raises:
        ValueError: the batch is not two items; the message shows its structure.

    >>> x, y = prepare_batch(({"image": torch.zeros(2, 3), "id": 7}, torch.ones(2)), device="cpu")
    >>> x["image"].shape, x["id"], y
    (torch.Size([2, 3]), 7, tensor([1., 1.]))
    """
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(
            "The default prepare_batch splits a batch into (x, y), so it needs a tuple or list of two items, "
            f"got {_describe_structure(batch)}. Pass prepare_batch=fn(batch, device, non_blocking) -> (x, y) "
            "to say how to split batches of this shape."
        )
    x, y = batch
    if device is None:
        return x, y

    def move(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device, non_blocking=non_blocking)

    return apply_to_tensors(x, move), apply_to_tensors(y, move)


def _describe_structure(value: Any, depth: int = 0) -> str:
    """A short description of a nested batch: ``tuple of 3 items (Tensor[16, 4], Tensor[16], int)``."""
    if isinstance(value, torch.Tensor):
        return f"Tensor{list(value.shape)}"
    if depth > 2:
        return type(value).__name__
    if isinstance(value, (tuple, list)):
        shown = ", ".join(_describe_structure(item, depth + 1) for item in value[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"{type(value).__name__} of {len(value)} items ({shown}{more})"
    if isinstance(value, Mapping):
        shown = ", ".join(f"{key!r}: {_describe_structure(item, depth + 1)}" for key, item in list(value.items())[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"{type(value).__name__} {{{shown}{more}}}"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------- checks


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}. Wrap the computation in an nn.Module, "
            "or pass model_fn=fn(model, x) to call a module in another way."
        )


def _check_callable(name: str, value: Any, expected: str) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be a callable {expected}, got {value!r} ({type(value).__name__}).")


def _check_device(device: Any) -> torch.device | None:
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str or torch.device, got {device!r} ({type(device).__name__}), e.g. device='cuda'."
        )
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"device={device!r} is not a valid torch device ({error}). Pass e.g. 'cpu' or 'cuda:0'."
        ) from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        # Caught here: moving the model would fail with torch's bare AssertionError instead.
        raise ValueError(
            f"device={device!r} was requested, but this torch has no usable CUDA device "
            "(torch.cuda.is_available() is False). Pass device='cpu', or None to leave the model where it is."
        )
    return parsed


def _device_type(model: nn.Module, device: torch.device | None) -> str:
    """The device type autocast must cover: the target device, else the one of the model's parameters."""
    if device is not None:
        return device.type
    for parameter in model.parameters():
        return parameter.device.type
    return "cpu"


def _check_amp_dtype(amp_dtype: Any, device_type: str) -> torch.dtype | None:
    if amp_dtype is None:
        return None
    if not isinstance(amp_dtype, torch.dtype):
        raise TypeError(
            f"amp_dtype must be a torch.dtype (torch.bfloat16 or torch.float16) or None, got {amp_dtype!r} "
            f"({type(amp_dtype).__name__})."
        )
    if amp_dtype not in _AMP_DTYPES:
        raise ValueError(
            f"amp_dtype={amp_dtype} is not supported for mixed precision. Pass torch.bfloat16 or torch.float16, "
            "or None to run in the model's own precision."
        )
    if amp_dtype is torch.float16 and device_type == "cpu":
        raise ValueError(
            "amp_dtype=torch.float16 was requested for a model on the CPU, where float16 autocast is slow and "
            "unsupported by many operations. Use amp_dtype=torch.bfloat16 on the CPU, or move the model to a GPU "
            "(device='cuda')."
        )
    return amp_dtype


def _check_positive_number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number or None, got {value!r} ({type(value).__name__}).")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number, got {name}={value}. Pass e.g. {name}=1.0.")
    return float(value)


def _record_modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """The train/eval flag of the model and of each of its submodules, to put back later exactly."""
    return [(module, module.training) for module in model.modules()]


def _restore_modes(modes: list[tuple[nn.Module, bool]] | None) -> None:
    # Setting each flag, rather than calling train(mode) on the root, keeps submodules that were
    # deliberately in another mode (a frozen BatchNorm) as they were.
    for module, training in modes or ():
        module.training = training


def _not_attached(kind: str, factory: str) -> RuntimeError:
    return RuntimeError(
        f"This {kind} step was called by an engine it is not attached to. Call step.attach(engine) once after "
        f"creating the engine that runs it (the {factory} factory does this for you)."
    )


def _loss_item(x: Any, y: Any, y_pred: Any, loss: torch.Tensor) -> float:
    return loss.item()


def _prediction_and_target(x: Any, y: Any, y_pred: Any) -> tuple[Any, Any]:
    return y_pred, y


# ---------------------------------------------------------------------------------------------- training


class TrainingStep:
    """One training iteration as a process function; build it with :func:`supervised_training_step`.

    Call it as ``step(engine, batch)`` from a process function (or use it as one), after
    :meth:`attach` has wired it to that engine.

    Attributes:
        pending: batches whose gradients were accumulated since the last optimizer step.
        grad_scaler: the ``torch.amp.GradScaler`` used for float16, or ``None``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], torch.Tensor],
        device: Device = None,
        non_blocking: bool = False,
        prepare_batch: PrepareBatch = prepare_batch,
        output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = _loss_item,
        *,
        model_transform: Callable[[Any], Any] | None = None,
        model_fn: Callable[[nn.Module, Any], Any] | None = None,
        gradient_accumulation_steps: int = 1,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        amp_dtype: torch.dtype | None = None,
        grad_scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        _check_model(model)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
                "Pass e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
            )
        _check_callable("loss_fn", loss_fn, "(y_pred, y) -> loss tensor")
        _check_callable("prepare_batch", prepare_batch, "(batch, device, non_blocking) -> (x, y)")
        _check_callable("output_transform", output_transform, "(x, y, y_pred, loss) -> output")
        if model_transform is not None:
            _check_callable("model_transform", model_transform, "(model output) -> y_pred")
        if model_fn is not None:
            _check_callable("model_fn", model_fn, "(model, x) -> model output")
        steps = gradient_accumulation_steps
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise TypeError(
                f"gradient_accumulation_steps must be an integer, got {steps!r} ({type(steps).__name__}). "
                "Pass the number of batches per optimizer step, e.g. 4."
            )
        if steps < 1:
            raise ValueError(
                f"gradient_accumulation_steps must be >= 1, got {steps}. Pass 1 to step the optimizer on every "
                "batch, or k > 1 to accumulate gradients over k batches."
            )
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        # prepare_batch gets the device as the user gave it (a str stays a str), as in pytorch-ignite
        self.device = device
        self.non_blocking = non_blocking
        self.prepare_batch = prepare_batch
        self.output_transform = output_transform
        self.model_transform = model_transform
        self.model_fn = model_fn
        self.gradient_accumulation_steps = steps
        self.clip_grad_norm = _check_positive_number("clip_grad_norm", clip_grad_norm)
        self.clip_grad_value = _check_positive_number("clip_grad_value", clip_grad_value)
        self.amp_device_type = _device_type(model, _check_device(device))
        self.amp_dtype = _check_amp_dtype(amp_dtype, self.amp_device_type)
        if grad_scaler is not None and not isinstance(grad_scaler, torch.amp.GradScaler):
            raise TypeError(f"grad_scaler must be a torch.amp.GradScaler or None, got {type(grad_scaler).__name__}.")
        if grad_scaler is None and self.amp_dtype is torch.float16:
            # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
            grad_scaler = torch.amp.GradScaler(self.amp_device_type)
        self.grad_scaler = grad_scaler
        self.pending = 0
        self._engine: Engine | None = None
        self._modes: list[tuple[nn.Module, bool]] | None = None

    def attach(self, engine: Engine) -> None:
        """Wire this step to ``engine``, the engine whose process function calls it.

        Registers :class:`TrainerEvents` with the counter ``engine.state.optimizer_step`` (also saved
        by ``engine.state_dict()``), puts the grad scaler in ``engine.state.grad_scaler``, and adds
        handlers that: record the modes of the model's modules and switch it to train mode at
        ``STARTED``, and restore the modes at ``COMPLETED``, ``INTERRUPT`` and ``EXCEPTION_RAISED``;
        step a partial accumulation at ``EPOCH_COMPLETED`` and ``COMPLETED`` (see
        :meth:`finish_accumulation`).

        Raises:
            RuntimeError: the step is already attached to an engine.
        """
        if self._engine is not None:
            raise RuntimeError(
                "This training step is already attached to an engine; a step serves one engine. "
                "Build another step with supervised_training_step(...) for another engine."
            )
        if not isinstance(engine, Engine):
            raise TypeError(f"attach expects an ember Engine, got {type(engine).__name__}.")
        engine.register_events(*TrainerEvents, event_to_attr={TrainerEvents.OPTIMIZER_STEP_COMPLETED: "optimizer_step"})
        state: Any = engine.state  # State takes the attributes of the handlers that use it
        if self.grad_scaler is not None or not hasattr(state, "grad_scaler"):
            state.grad_scaler = self.grad_scaler
        if "optimizer_step" not in engine.state_dict_user_keys:
            engine.state_dict_user_keys.append("optimizer_step")
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.finish_accumulation)
        engine.add_event_handler(Events.COMPLETED, self._completed)
        engine.add_event_handler(Events.INTERRUPT, self._restore_modes)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._failed)
        self._engine = engine

    def __call__(self, engine: Engine, batch: Any) -> Any:
        """Run the model on ``batch``, backpropagate, and step the optimizer when the accumulation is full.

        Returns ``output_transform(x, y, y_pred, loss)`` with the batch's own loss (not divided by
        ``gradient_accumulation_steps``).
        """
        if engine is not self._engine:
            raise _not_attached("training", "create_supervised_trainer")
        model = self.model
        if not model.training:  # one flag read per iteration; train() itself runs once per run
            model.train()
        if self.pending == 0:
            self.optimizer.zero_grad()
        if (
            (type(batch) is tuple or type(batch) is list)  # a DataLoader's default collate makes lists
            and len(batch) == 2
            and self.device is None
            and self.prepare_batch is prepare_batch
        ):
            x, y = batch  # what the default prepare_batch does here, without the call (a hot path)
        else:
            x, y = self.prepare_batch(batch, device=self.device, non_blocking=self.non_blocking)
        if self.amp_dtype is None:
            y_pred = model(x) if self.model_fn is None else self.model_fn(model, x)
            if self.model_transform is not None:
                y_pred = self.model_transform(y_pred)
            loss = self.loss_fn(y_pred, y)
        else:
            with torch.autocast(self.amp_device_type, dtype=self.amp_dtype):
                y_pred = model(x) if self.model_fn is None else self.model_fn(model, x)
                if self.model_transform is not None:
                    y_pred = self.model_transform(y_pred)
                loss = self.loss_fn(y_pred, y)
        steps = self.gradient_accumulation_steps
        # Dividing by k makes the summed gradient of k batches their mean; k=1 skips the division
        # so that a plain run matches a hand-written loop bit for bit.
        scaled_loss = loss / steps if steps > 1 else loss
        if self.grad_scaler is None:
            scaled_loss.backward()  # type: ignore[no-untyped-call]
        else:
            self.grad_scaler.scale(scaled_loss).backward()  # type: ignore[no-untyped-call]
        pending = self.pending + 1
        if pending < steps:
            self.pending = pending
        elif (
            pending == steps
            and self.grad_scaler is None
            and self.clip_grad_norm is None
            and self.clip_grad_value is None
        ):
            # The usual case, inlined: a full accumulation, no clipping, no loss scaling.
            self.pending = 0
            self.optimizer.step()
            state: Any = engine.state
            state.optimizer_step += 1
            engine.fire_event(_OPTIMIZER_STEP_COMPLETED)
        else:
            self.pending = pending
            self._step_optimizer(engine)
        if self.output_transform is _loss_item:
            return loss.item()
        return self.output_transform(x, y, y_pred, loss)

    def finish_accumulation(self, engine: Engine) -> None:
        """Step the optimizer now if gradients of fewer than ``gradient_accumulation_steps`` batches wait.

        The gradients of the ``m`` waiting batches are first multiplied by ``k / m``, so the step
        uses their mean gradient, as if the ``m`` batches were one batch. Runs on ``EPOCH_COMPLETED``
        and on ``COMPLETED`` (a run ended by ``terminate()`` or ``max_iters`` mid-accumulation);
        does nothing when no gradient waits.
        """
        if self.pending:
            self._step_optimizer(engine)

    def _step_optimizer(self, engine: Engine) -> None:
        pending, self.pending = self.pending, 0
        optimizer, scaler = self.optimizer, self.grad_scaler
        steps = self.gradient_accumulation_steps
        clipping = self.clip_grad_norm is not None or self.clip_grad_value is not None
        if pending < steps or clipping:
            parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if pending < steps:
                for parameter in parameters:
                    parameter.grad.mul_(steps / pending)  # type: ignore[union-attr]
            if clipping:
                if scaler is not None:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
                if self.clip_grad_value is not None:
                    nn.utils.clip_grad_value_(parameters, self.clip_grad_value)
                if self.clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(parameters, self.clip_grad_norm)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        state: Any = engine.state
        state.optimizer_step += 1
        engine.fire_event(_OPTIMIZER_STEP_COMPLETED)

    def _started(self, engine: Engine) -> None:
        # Gradients are not part of a checkpoint, so a run (new or resumed) starts a fresh accumulation.
        self.pending = 0
        state: Any = engine.state
        if state.iteration == 0:  # a new run; a resumed one keeps its loaded counter
            state.optimizer_step = 0
        self._modes = _record_modes(self.model)
        # Switched here, before EPOCH_STARTED, so handlers see train mode from the start and a
        # submodule they put in eval mode (a frozen BatchNorm) stays so from the first batch on.
        self.model.train()

    def _completed(self, engine: Engine) -> None:
        self.finish_accumulation(engine)
        self._restore_modes()

    def _restore_modes(self) -> None:
        _restore_modes(self._modes)

    def _failed(self, engine: Engine, exception: BaseException) -> None:
        self._restore_modes()


def supervised_training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = _loss_item,
    *,
    model_transform: Callable[[Any], Any] | None = None,
    model_fn: Callable[[nn.Module, Any], Any] | None = None,
    gradient_accumulation_steps: int = 1,
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    amp_dtype: torch.dtype | None = None,
    grad_scaler: torch.amp.GradScaler | None = None,
) -> TrainingStep:
    """Build a training step ``step(engine, batch) -> output`` for a process function of your own.

    Each call: switches the model to train mode if it is not in it, zeroes the gradients at the
    start of an accumulation, splits and moves the batch with ``prepare_batch``, computes
    ``y_pred = model_transform(model_fn(model, x))`` and ``loss = loss_fn(y_pred, y)`` (under
    ``torch.autocast`` when ``amp_dtype`` is set), backpropagates ``loss / k``, steps the optimizer
    every ``k = gradient_accumulation_steps`` calls (clipping the gradients first when asked), and
    returns ``output_transform(x, y, y_pred, loss)``.

    Args: as for :func:`create_supervised_trainer`.

    Call ``step.attach(engine)`` once on the engine that will call it: that wires the handlers for
    the model's mode, the end-of-epoch accumulation and the optimizer-step counter.

    Example, a process function that also logs the learning rate:

    >>> from torch import nn
    >>> model = nn.Linear(3, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> step = supervised_training_step(model, optimizer, nn.MSELoss())
    >>> def process(engine, batch):
    ...     loss = step(engine, batch)
    ...     return {"loss": loss, "lr": optimizer.param_groups[0]["lr"]}
    >>> trainer = Engine(process)
    >>> step.attach(trainer)
    >>> trainer.run([(torch.randn(4, 3), torch.randn(4, 1))] * 3).output["lr"]
    0.1
    """
    return TrainingStep(
        model,
        optimizer,
        loss_fn,
        device,
        non_blocking,
        prepare_batch,
        output_transform,
        model_transform=model_transform,
        model_fn=model_fn,
        gradient_accumulation_steps=gradient_accumulation_steps,
        clip_grad_norm=clip_grad_norm,
        clip_grad_value=clip_grad_value,
        amp_dtype=amp_dtype,
        grad_scaler=grad_scaler,
    )


def create_supervised_trainer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = _loss_item,
    *,
    model_transform: Callable[[Any], Any] | None = None,
    model_fn: Callable[[nn.Module, Any], Any] | None = None,
    gradient_accumulation_steps: int = 1,
    clip_grad_norm: float | None = None,
    clip_grad_value: float | None = None,
    amp_dtype: torch.dtype | None = None,
    grad_scaler: torch.amp.GradScaler | None = None,
) -> Engine:
    """Build an engine whose iterations train ``model`` on batches ``(x, y)``.

    Args:
        model: the ``nn.Module`` to train; moved to ``device`` when one is given.
        optimizer: the ``torch.optim.Optimizer`` over the model's parameters.
        loss_fn: ``loss_fn(y_pred, y) -> scalar tensor``, e.g. ``nn.CrossEntropyLoss()``.
        device: where the model and the batches go; ``None`` leaves both where they are.
        non_blocking: passed to ``tensor.to`` when batches are moved (asynchronous host-to-GPU copies).
        prepare_batch: ``fn(batch, device, non_blocking) -> (x, y)``; the default
            :func:`prepare_batch` takes a batch of two items.
        output_transform: ``fn(x, y, y_pred, loss) -> engine.state.output``; ``loss.item()`` by default.
        model_transform: applied to the model's output before the loss, e.g. ``lambda out: out["logits"]``.
        model_fn: ``fn(model, x) -> output``, for models called otherwise than ``model(x)``, e.g.
            ``lambda model, x: model(*x)`` for a model of several inputs.
        gradient_accumulation_steps: ``k``: the optimizer steps once every ``k`` batches on the mean
            of their gradients (each batch's loss is divided by ``k``). Batches left at the end of an
            epoch or run are stepped too, on their own mean gradient.
        clip_grad_norm: clip the gradients' total norm to this before each optimizer step.
        clip_grad_value: clip each gradient element to ``[-value, value]`` before each optimizer
            step (before ``clip_grad_norm`` when both are set).
        amp_dtype: ``torch.bfloat16`` or ``torch.float16`` to run the forward pass and the loss
            under ``torch.autocast`` on the model's device type. float16 is for GPUs and gets a
            ``torch.amp.GradScaler``; use bfloat16 on the CPU.
        grad_scaler: a ``torch.amp.GradScaler`` of your own (e.g. with another ``init_scale``);
            by default float16 creates one and other precisions use none.

    Returns:
        An :class:`~ember.engine.Engine`. Its ``state.output`` is the batch's loss as a float by
        default; ``state.optimizer_step`` counts optimizer steps (filter on
        ``TrainerEvents.OPTIMIZER_STEP_COMPLETED``); ``state.grad_scaler`` holds the grad scaler
        (or ``None``), to checkpoint it. The model is in train mode during the run and its modes
        are restored when the run ends.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``optimizer`` not an ``Optimizer``, or another
            argument has the wrong type.
        ValueError: ``gradient_accumulation_steps < 1``, an ``amp_dtype`` other than bfloat16 and
            float16, float16 on the CPU, or a clipping threshold that is not positive.

    >>> from torch import nn
    >>> model = nn.Linear(3, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> trainer = create_supervised_trainer(model, optimizer, nn.MSELoss(), clip_grad_norm=1.0)
    >>> isinstance(trainer.run([(torch.randn(4, 3), torch.randn(4, 1))] * 3).output, float)
    True
    """
    if device is not None and isinstance(model, nn.Module):
        model.to(_check_device(device))
    step = supervised_training_step(
        model,
        optimizer,
        loss_fn,
        device,
        non_blocking,
        prepare_batch,
        output_transform,
        model_transform=model_transform,
        model_fn=model_fn,
        gradient_accumulation_steps=gradient_accumulation_steps,
        clip_grad_norm=clip_grad_norm,
        clip_grad_value=clip_grad_value,
        amp_dtype=amp_dtype,
        grad_scaler=grad_scaler,
    )
    trainer = Engine(step)
    step.attach(trainer)
    return trainer


# ---------------------------------------------------------------------------------------------- evaluation


class EvaluationStep:
    """One evaluation iteration as a process function; build it with :func:`supervised_evaluation_step`.

    Call it as ``step(engine, batch)`` from a process function (or use it as one), after
    :meth:`attach` has wired it to that engine.
    """

    def __init__(
        self,
        model: nn.Module,
        device: Device = None,
        non_blocking: bool = False,
        prepare_batch: PrepareBatch = prepare_batch,
        output_transform: Callable[[Any, Any, Any], Any] = _prediction_and_target,
        *,
        model_transform: Callable[[Any], Any] | None = None,
        model_fn: Callable[[nn.Module, Any], Any] | None = None,
        amp_dtype: torch.dtype | None = None,
        inference_mode: bool = True,
    ) -> None:
        _check_model(model)
        _check_callable("prepare_batch", prepare_batch, "(batch, device, non_blocking) -> (x, y)")
        _check_callable("output_transform", output_transform, "(x, y, y_pred) -> output")
        if model_transform is not None:
            _check_callable("model_transform", model_transform, "(model output) -> y_pred")
        if model_fn is not None:
            _check_callable("model_fn", model_fn, "(model, x) -> model output")
        self.model = model
        # prepare_batch gets the device as the user gave it (a str stays a str), as in pytorch-ignite
        self.device = device
        self.non_blocking = non_blocking
        self.prepare_batch = prepare_batch
        self.output_transform = output_transform
        self.model_transform = model_transform
        self.model_fn = model_fn
        self.amp_device_type = _device_type(model, _check_device(device))
        self.amp_dtype = _check_amp_dtype(amp_dtype, self.amp_device_type)
        self.inference_mode = bool(inference_mode)
        self._engine: Engine | None = None
        self._modes: list[tuple[nn.Module, bool]] | None = None

    def attach(self, engine: Engine) -> None:
        """Wire this step to ``engine``: record the model's modes and switch it to eval mode at ``STARTED``.

        The modes of the model and of each submodule are put back at ``COMPLETED``, ``INTERRUPT``
        and ``EXCEPTION_RAISED``, so a trainer that runs this evaluator finds its model in train mode.

        Raises:
            RuntimeError: the step is already attached to an engine.
        """
        if self._engine is not None:
            raise RuntimeError(
                "This evaluation step is already attached to an engine; a step serves one engine. "
                "Build another step with supervised_evaluation_step(...) for another engine."
            )
        if not isinstance(engine, Engine):
            raise TypeError(f"attach expects an ember Engine, got {type(engine).__name__}.")
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.COMPLETED, self._restore_modes)
        engine.add_event_handler(Events.INTERRUPT, self._restore_modes)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._failed)
        self._engine = engine

    def __call__(self, engine: Engine, batch: Any) -> Any:
        """Run the model on ``batch`` without gradients and return ``output_transform(x, y, y_pred)``."""
        if engine is not self._engine:
            raise _not_attached("evaluation", "create_supervised_evaluator")
        model = self.model
        if model.training:  # one flag read per iteration; eval() itself runs once per run
            model.eval()
        # Inference mode also skips autograd's version counting; no_grad is the fallback for
        # outputs that must later take part in autograd.
        with torch.inference_mode() if self.inference_mode else torch.no_grad():
            x, y = self.prepare_batch(batch, device=self.device, non_blocking=self.non_blocking)
            if self.amp_dtype is None:
                y_pred = self._forward(model, x)
            else:
                with torch.autocast(self.amp_device_type, dtype=self.amp_dtype):
                    y_pred = self._forward(model, x)
            return self.output_transform(x, y, y_pred)

    def _forward(self, model: nn.Module, x: Any) -> Any:
        y_pred = model(x) if self.model_fn is None else self.model_fn(model, x)
        return y_pred if self.model_transform is None else self.model_transform(y_pred)

    def _started(self, engine: Engine) -> None:
        self._modes = _record_modes(self.model)
        # Switched here, before EPOCH_STARTED, so a submodule that a handler puts back in train
        # mode (dropout for Monte Carlo sampling) stays so from the first batch on.
        self.model.eval()

    def _restore_modes(self) -> None:
        _restore_modes(self._modes)

    def _failed(self, engine: Engine, exception: BaseException) -> None:
        self._restore_modes()


def supervised_evaluation_step(
    model: nn.Module,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    output_transform: Callable[[Any, Any, Any], Any] = _prediction_and_target,
    *,
    model_transform: Callable[[Any], Any] | None = None,
    model_fn: Callable[[nn.Module, Any], Any] | None = None,
    amp_dtype: torch.dtype | None = None,
    inference_mode: bool = True,
) -> EvaluationStep:
    """Build an evaluation step ``step(engine, batch) -> output`` for a process function of your own.

    Each call switches the model to eval mode if it is not in it, then, under
    ``torch.inference_mode()`` (``torch.no_grad()`` with ``inference_mode=False``), splits and
    moves the batch, computes ``y_pred = model_transform(model_fn(model, x))`` (under
    ``torch.autocast`` when ``amp_dtype`` is set) and returns ``output_transform(x, y, y_pred)``.
    Call ``step.attach(engine)`` once on the engine that will call it.

    Args: as for :func:`create_supervised_evaluator`.

    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> step = supervised_evaluation_step(model, output_transform=lambda x, y, y_pred: y_pred.argmax(1))
    >>> evaluator = Engine(step)
    >>> step.attach(evaluator)
    >>> evaluator.run([(torch.randn(4, 3), torch.zeros(4))]).output.shape
    torch.Size([4])
    """
    return EvaluationStep(
        model,
        device,
        non_blocking,
        prepare_batch,
        output_transform,
        model_transform=model_transform,
        model_fn=model_fn,
        amp_dtype=amp_dtype,
        inference_mode=inference_mode,
    )


def create_supervised_evaluator(
    model: nn.Module,
    metrics: Mapping[str, Any] | None = None,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    output_transform: Callable[[Any, Any, Any], Any] = _prediction_and_target,
    *,
    model_transform: Callable[[Any], Any] | None = None,
    model_fn: Callable[[nn.Module, Any], Any] | None = None,
    amp_dtype: torch.dtype | None = None,
    inference_mode: bool = True,
) -> Engine:
    """Build an engine that runs ``model`` without gradients on batches ``(x, y)``, for metrics.

    Args:
        model: the ``nn.Module`` to evaluate; moved to ``device`` when one is given.
        metrics: metric names to metrics, attached to the evaluator; their values land in
            ``evaluator.state.metrics[name]``. A metric is an object with ``attach(engine, name)``
            (an ember metric) or a ``torchmetrics.Metric``, which is wrapped by
            ``ember.metrics.as_metric``.
        device, non_blocking, prepare_batch, model_transform, model_fn, amp_dtype: as for
            :func:`create_supervised_trainer` (float16 on a GPU needs no grad scaler here).
        output_transform: ``fn(x, y, y_pred) -> engine.state.output``; ``(y_pred, y)`` by default,
            which is what metrics expect.
        inference_mode: ``True`` runs under ``torch.inference_mode()``; pass ``False`` for
            ``torch.no_grad()`` when the outputs must later be used in autograd (inference tensors
            cannot be).

    Returns:
        An :class:`~ember.engine.Engine`. The model is in eval mode during the run, and the mode of
        each of its modules is restored when the run ends.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``metrics`` is not a mapping of names to
            metrics, or another argument has the wrong type.
        ValueError: an ``amp_dtype`` other than bfloat16 and float16, or float16 on the CPU.

    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> evaluator = create_supervised_evaluator(model)
    >>> y_pred, y = evaluator.run([(torch.randn(4, 3), torch.zeros(4))]).output
    >>> y_pred.shape, y_pred.requires_grad, model.training
    (torch.Size([4, 2]), False, True)
    """
    if device is not None and isinstance(model, nn.Module):
        model.to(_check_device(device))
    step = supervised_evaluation_step(
        model,
        device,
        non_blocking,
        prepare_batch,
        output_transform,
        model_transform=model_transform,
        model_fn=model_fn,
        amp_dtype=amp_dtype,
        inference_mode=inference_mode,
    )
    evaluator = Engine(step)
    step.attach(evaluator)
    _attach_metrics(evaluator, metrics)
    return evaluator


def _attach_metrics(evaluator: Engine, metrics: Mapping[str, Any] | None) -> None:
    if metrics is None:
        return
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"metrics must be a mapping of names to metrics, got {type(metrics).__name__}, "
            "e.g. metrics={'accuracy': Accuracy()}."
        )
    for name, metric in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"metrics keys must be names (str), got {name!r} ({type(name).__name__}).")
        if callable(getattr(metric, "attach", None)):
            metric.attach(evaluator, name)
            continue
        if not all(callable(getattr(metric, method, None)) for method in ("reset", "update", "compute")):
            raise TypeError(
                f"metrics[{name!r}] is a {type(metric).__name__}, which is not a metric: it has no "
                "attach(engine, name) method and is not a torchmetrics.Metric. Pass an ember metric "
                "or a torchmetrics metric."
            )
        # Imported here, and by name, because the engine core does not depend on ember.metrics.
        try:
            as_metric = getattr(importlib.import_module("ember.metrics"), "as_metric", None)
        except ModuleNotFoundError:
            as_metric = None
        if as_metric is None:
            raise TypeError(
                f"metrics[{name!r}] is a {type(metric).__name__} without attach(engine, name), and this ember "
                "has no ember.metrics.as_metric to wrap it. Pass a metric with an attach method."
            )
        as_metric(metric).attach(evaluator, name)
