"""The supervised training step (:class:`TrainingStep`) and the factories that build it and its trainer."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ember import distributed
from ember.distributed.sharding import gradient_sync
from ember.engine.engine import Engine
from ember.engine.events import Events
from ember.supervised.common import (
    _OPTIMIZER_STEP_COMPLETED,
    Device,
    GradScaler,
    PrepareBatch,
    TrainerEvents,
    TrainingOptions,
    _call_model,
    _check_callable,
    _check_common,
    _check_model,
    _check_options,
    _check_positive_number,
    _check_scaler,
    _Common,
    _gradient_sync_kind,
    _identity,
    _loss_item,
    _Step,
    prepare_batch,
)

if TYPE_CHECKING:  # only annotations use it (typing.Unpack is Python 3.11+); nothing is imported at run time
    from typing_extensions import Unpack

__all__ = [
    "TrainingStep",
    "create_supervised_trainer",
    "supervised_training_step",
    "supervised_training_step_amp",
]

# ---------------------------------------------------------------------------------------------- training


@dataclass
class _Training:
    """The checked arguments of a training step."""

    common: _Common
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[Any, Any], torch.Tensor]
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any]
    gradient_accumulation_steps: int
    clip_grad_norm: float | None
    clip_grad_value: float | None
    grad_scaler: GradScaler | None


def _check_training(
    where: str,
    model: Any,
    optimizer: Any,
    loss_fn: Any,
    device: Any,
    non_blocking: Any,
    prepare_batch: Any,
    model_transform: Any,
    output_transform: Any,
    gradient_accumulation_steps: Any,
    model_fn: Any,
    amp_mode: Any,
    scaler: Any,
    options: Mapping[str, Any],
) -> _Training:
    _check_options(where, options, TrainingOptions)
    _check_model(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}. "
            "Pass e.g. torch.optim.SGD(model.parameters(), lr=0.1)."
        )
    _check_callable("loss_fn", loss_fn, "(y_pred, y) -> loss tensor", "nn.CrossEntropyLoss()", None, None)
    common = _check_common(
        model, device, non_blocking, prepare_batch, model_transform, model_fn, amp_mode, options.get("amp_dtype")
    )
    _check_callable(
        "output_transform",
        output_transform,
        "(x, y, y_pred, loss) -> output",
        "lambda x, y, y_pred, loss: loss.item()",
        None,
        None,
        None,
        None,
    )
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
    return _Training(
        common=common,
        optimizer=optimizer,
        loss_fn=loss_fn,
        output_transform=output_transform,
        gradient_accumulation_steps=steps,
        clip_grad_norm=_check_positive_number("clip_grad_norm", options.get("clip_grad_norm")),
        clip_grad_value=_check_positive_number("clip_grad_value", options.get("clip_grad_value")),
        grad_scaler=_check_scaler(
            scaler, options.get("grad_scaler"), amp_mode, common.amp_dtype, common.amp_device_type
        ),
    )


_PAIR_TYPES = (tuple, list)  # batches the default prepare_batch splits (a DataLoader's default collate makes lists)
_PLAIN_OPTIONS = frozenset(
    {
        "device",
        "prepare_batch",
        "model_fn",
        "model_transform",
        "amp_dtype",
        "gradient_accumulation_steps",
        "clip_grad_norm",
        "clip_grad_value",
        "grad_scaler",
        "output_transform",
    }
)


class TrainingStep(_Step):
    """One training iteration as a process function; build it with :func:`supervised_training_step`.

    ``Engine(step)`` is a trainer; ``step(engine, batch)`` may also be called from a process
    function of your own. The step attaches itself to the engine that first calls it (see :meth:`attach`).

    Attributes:
        pending: batches whose gradients were accumulated since the last optimizer step.
        grad_scaler: the ``torch.amp.GradScaler`` used, or ``None``.

    The options (``device``, ``prepare_batch``, ``gradient_accumulation_steps``, ``clip_grad_norm``,
    ...) may be changed between iterations, e.g. by a handler that turns clipping on after a warm-up;
    the next iteration uses them.
    """

    _kind = "training"
    # Whether the options are the defaults, so that an iteration may take the plain path (one flag
    # read instead of a dozen on the hot path); kept up to date by __setattr__.
    _plain = False

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _PLAIN_OPTIONS:
            object.__setattr__(self, "_plain", self._has_plain_options())

    def _has_plain_options(self) -> bool:
        try:
            return (
                self.device is None
                and self.prepare_batch is prepare_batch
                and self.model_fn is None
                and self.model_transform is None
                and self.amp_dtype is None
                and self.gradient_accumulation_steps == 1
                and self.clip_grad_norm is None
                and self.clip_grad_value is None
                and self.grad_scaler is None
                and self.output_transform is _loss_item
            )
        except AttributeError:  # still being built
            return False

    def __init__(self, training: _Training) -> None:
        super().__init__(training.common)
        self.optimizer = training.optimizer
        self.loss_fn = training.loss_fn
        self.output_transform = training.output_transform
        self.gradient_accumulation_steps = training.gradient_accumulation_steps
        self.clip_grad_norm = training.clip_grad_norm
        self.clip_grad_value = training.clip_grad_value
        self.grad_scaler = training.grad_scaler
        self.pending = 0
        self._warned_leftover = False
        # whether the accumulated gradients skipped their reduction across ranks (see _accumulate)
        self._unreduced = False

    def attach(self, engine: Engine) -> None:
        """Wire this step to ``engine``, the engine whose process function calls it.

        Registers :class:`TrainerEvents` with the counter ``engine.state.optimizer_step`` (also saved
        by ``engine.state_dict()``), puts the grad scaler in ``engine.state.scaler`` (ignite's name)
        and ``engine.state.grad_scaler``, and adds handlers that: switch the model to train mode at
        ``STARTED``; step a partial accumulation at ``EPOCH_COMPLETED`` and ``COMPLETED`` (see
        :meth:`finish_accumulation`). As in pytorch-ignite, the model is left in train mode when
        the run ends.

        A step attaches itself to the engine that first calls it; call this before ``run`` to add
        handlers to :class:`TrainerEvents` before the first iteration. Attaching again to the same
        engine does nothing.

        Raises:
            TypeError: ``engine`` is not an ember ``Engine``.
            RuntimeError: the step is already attached to another engine.
        """
        super().attach(engine)

    def _wire(self, engine: Engine) -> None:
        engine.register_events(*TrainerEvents, event_to_attr={TrainerEvents.OPTIMIZER_STEP_COMPLETED: "optimizer_step"})
        state: Any = engine.state  # State takes the attributes of the handlers that use it
        if not hasattr(state, "optimizer_step"):
            state.optimizer_step = 0
        for name in ("scaler", "grad_scaler"):  # a second step without a scaler keeps the first one's
            if self.grad_scaler is not None or not hasattr(state, name):
                setattr(state, name, self.grad_scaler)
        if "optimizer_step" not in engine.state_dict_user_keys:
            engine.state_dict_user_keys.append("optimizer_step")
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.finish_accumulation)
        engine.add_event_handler(Events.COMPLETED, self.finish_accumulation)

    def __call__(self, engine: Engine, batch: Any) -> Any:
        """Run the model on ``batch``, backpropagate, and step the optimizer when the accumulation is full.

        Returns ``output_transform(x, y, y_pred, loss)`` with the batch's own loss (not divided by
        ``gradient_accumulation_steps``).
        """
        attached = self._engine
        if attached is None or attached() is not engine:
            self._attach_on_first_call(engine)
        return self._attached_call(engine, batch)

    def _attached_call(self, engine: Engine, batch: Any) -> Any:
        """:meth:`__call__` once attached to ``engine``: the factories give the engine this method."""
        model = self.model
        # One flag read per iteration: train() runs at STARTED and again after an evaluator in a
        # handler left the model in eval mode (ignite calls train() on every iteration).
        if not model.training:
            model.train()
        if self._plain and not self.pending and type(batch) in _PAIR_TYPES and len(batch) == 2:
            # The usual case, with default options, in the fewest operations: it runs on every
            # iteration, where each Python operation costs more than in isolation (caches are cold
            # after the model's own work). The same steps as the general path below.
            optimizer = self.optimizer
            optimizer.zero_grad()
            x, y = batch  # a DataLoader's default collate makes lists
            loss = self.loss_fn(model(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            engine.state.optimizer_step += 1  # type: ignore[attr-defined]
            engine.fire_event(_OPTIMIZER_STEP_COMPLETED)
            return loss.item()
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
        steps = self.gradient_accumulation_steps
        if steps == 1:
            y_pred, loss = self._forward_backward(model, x, y, steps)
        else:
            y_pred, loss = self._accumulate(engine, model, x, y, steps)
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

    def _forward_backward(self, model: nn.Module, x: Any, y: Any, steps: int) -> tuple[Any, torch.Tensor]:
        """The model's prediction and the batch's loss, after backpropagating ``loss / steps``."""
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
        # Dividing by k makes the summed gradient of k batches their mean; k=1 skips the division
        # so that a plain run matches a hand-written loop bit for bit.
        scaled_loss = loss / steps if steps > 1 else loss
        if self.grad_scaler is None:
            scaled_loss.backward()  # type: ignore[no-untyped-call]
        else:
            self.grad_scaler.scale(scaled_loss).backward()  # type: ignore[no-untyped-call]
        return y_pred, loss

    def _accumulate(self, engine: Engine, model: nn.Module, x: Any, y: Any, steps: int) -> tuple[Any, torch.Tensor]:
        """:meth:`_forward_backward` of a micro-batch, reducing gradients across ranks only when the window closes.

        Under DistributedDataParallel or FSDP, a micro-batch after which the window surely goes on
        backpropagates without the ranks' gradient reduction (DDP's ``no_sync()``, FSDP's
        ``set_requires_gradient_sync(False)``); the micro-batch that closes the window reduces the
        accumulated sum once. The result is the same, with one reduction per optimizer step
        instead of one per micro-batch.
        """
        kind = _gradient_sync_kind(model)
        skip = kind is not None and self._window_goes_on(engine, steps)
        if kind == "ddp" and skip:
            with model.no_sync():  # type: ignore[operator]
                result = self._forward_backward(model, x, y, steps)
        else:
            if kind == "fsdp":
                gradient_sync(model, not skip)
            result = self._forward_backward(model, x, y, steps)
        self._unreduced = skip
        return result

    def _window_goes_on(self, engine: Engine, steps: int) -> bool:
        """Whether another micro-batch of this accumulation window surely follows the current one."""
        if self.pending + 1 >= steps:
            return False
        state = engine.state
        epoch_length, max_iters = state.epoch_length, state.max_iters
        if epoch_length is None or state.iteration % epoch_length == 0:
            return False  # the epoch's end (or an unknown one) closes the window
        return max_iters is None or state.iteration < max_iters

    def _reduce_left_over_gradients(self) -> None:
        """Average across ranks the gradients a run stopped mid-window left unreduced (DDP: exact; FSDP: dropped)."""
        self._unreduced = False
        kind = _gradient_sync_kind(self.model)
        if kind == "fsdp":
            gradient_sync(self.model, True)
            warnings.warn(
                f"The run stopped in the middle of a gradient accumulation window ({self.pending} batch(es) "
                "accumulated without reduction across the ranks), and an FSDP model's unreduced gradients cannot "
                "be reduced outside a backward pass: the optimizer does not step on them (pytorch-ignite drops an "
                "unfinished window too). Stop at the end of a window (a multiple of gradient_accumulation_steps) "
                "to keep every batch.",
                UserWarning,
                stacklevel=3,
            )
            self.pending = 0
            self.optimizer.zero_grad()
            return
        for group in self.optimizer.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    parameter.grad.copy_(distributed.all_reduce(parameter.grad, op="MEAN"))

    def finish_accumulation(self, engine: Engine) -> None:
        """Step the optimizer now if gradients of fewer than ``gradient_accumulation_steps`` batches wait.

        The gradients of the ``m`` waiting batches are first multiplied by ``k / m``, so the step
        uses their mean gradient, as if the ``m`` batches were one batch. Runs on ``EPOCH_COMPLETED``
        and on ``COMPLETED`` (a run ended by ``terminate()`` or ``max_iters`` mid-accumulation);
        does nothing when no gradient waits.

        pytorch-ignite steps no leftover batches (it counts accumulation windows over the run's
        iterations, across epochs, and drops a window the run leaves unfinished), so the first such
        step of a step object warns, naming the difference.
        """
        if self.pending and self._unreduced:
            self._reduce_left_over_gradients()
        if self.pending:
            if not self._warned_leftover:
                self._warned_leftover = True
                warnings.warn(
                    f"The optimizer steps on the {self.pending} batch(es) left over at iteration "
                    f"{engine.state.iteration}, which gradient_accumulation_steps={self.gradient_accumulation_steps} "
                    "does not divide, on their mean gradient. pytorch-ignite does not: it carries them into the "
                    "next epoch's accumulation and drops those left when the run ends, so the weights differ from "
                    "ignite's. Make the epoch length a multiple of gradient_accumulation_steps to get ignite's steps.",
                    UserWarning,
                    stacklevel=2,
                )
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
                    parameter.grad.mul_(steps / pending)
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
        self._unreduced = False
        state: Any = engine.state
        if state.iteration == 0:  # a new run; a resumed one keeps its loaded counter
            state.optimizer_step = 0
        # Switched here, before EPOCH_STARTED, so handlers see train mode from the start and a
        # submodule they put in eval mode (a frozen BatchNorm) stays so from the first batch on.
        self.model.train()


def supervised_training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor] | nn.Module,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    model_transform: Callable[[Any], Any] = _identity,
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = _loss_item,
    gradient_accumulation_steps: int = 1,
    model_fn: Callable[[nn.Module, Any], Any] = _call_model,
    *,
    scaler: bool | GradScaler = False,
    **options: Unpack[TrainingOptions],
) -> TrainingStep:
    """Build a training step ``step(engine, batch) -> output``: ``Engine(step)`` is a trainer.

    Each call: switches the model to train mode if it is not in it, zeroes the gradients at the
    start of an accumulation, splits and moves the batch with ``prepare_batch``, computes
    ``y_pred = model_transform(model_fn(model, x))`` and ``loss = loss_fn(y_pred, y)`` (under
    ``torch.autocast`` when ``amp_dtype`` is set), backpropagates ``loss / k``, steps the optimizer
    every ``k = gradient_accumulation_steps`` calls (clipping the gradients first when asked), and
    returns ``output_transform(x, y, y_pred, loss)``.

    Args: as for :func:`create_supervised_trainer` (``scaler`` and the :class:`TrainingOptions`
    are keyword-only here).

    The step attaches itself to the engine that first calls it; call ``step.attach(engine)`` before
    ``run`` to add handlers to :class:`TrainerEvents` before the first iteration. Example, a process
    function that also logs the learning rate:

    >>> from torch import nn
    >>> model = nn.Linear(3, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> step = supervised_training_step(model, optimizer, nn.MSELoss())
    >>> def process(engine, batch):
    ...     loss = step(engine, batch)
    ...     return {"loss": loss, "lr": optimizer.param_groups[0]["lr"]}
    >>> Engine(process).run([(torch.randn(4, 3), torch.randn(4, 1))] * 3).output["lr"]
    0.1
    """
    return TrainingStep(
        _check_training(
            "supervised_training_step",
            model,
            optimizer,
            loss_fn,
            device,
            non_blocking,
            prepare_batch,
            model_transform,
            output_transform,
            gradient_accumulation_steps,
            model_fn,
            None,
            scaler,
            options,
        )
    )


def supervised_training_step_amp(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor] | nn.Module,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    model_transform: Callable[[Any], Any] = _identity,
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = _loss_item,
    scaler: GradScaler | None = None,
    gradient_accumulation_steps: int = 1,
    model_fn: Callable[[nn.Module, Any], Any] = _call_model,
    **options: Unpack[TrainingOptions],
) -> TrainingStep:
    """:func:`supervised_training_step` under ``torch.autocast`` (``amp_mode="amp"``), ignite's signature.

    float16 on CUDA, or the ``amp_dtype`` given (``torch.bfloat16`` on the CPU). ``scaler``: a
    ``torch.amp.GradScaler`` for loss scaling, or ``None`` for none.

    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> step = supervised_training_step_amp(model, torch.optim.SGD(model.parameters(), lr=0.1),
    ...                                     nn.CrossEntropyLoss(), amp_dtype=torch.bfloat16)
    >>> isinstance(Engine(step).run([(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))]).output, float)
    True
    """
    return TrainingStep(
        _check_training(
            "supervised_training_step_amp",
            model,
            optimizer,
            loss_fn,
            device,
            non_blocking,
            prepare_batch,
            model_transform,
            output_transform,
            gradient_accumulation_steps,
            model_fn,
            "amp",
            scaler,
            options,
        )
    )


def create_supervised_trainer(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor] | nn.Module,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    model_transform: Callable[[Any], Any] = _identity,
    output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] = _loss_item,
    deterministic: bool = False,
    amp_mode: str | None = None,
    scaler: bool | GradScaler = False,
    gradient_accumulation_steps: int = 1,
    model_fn: Callable[[nn.Module, Any], Any] = _call_model,
    **options: Unpack[TrainingOptions],
) -> Engine:
    """Build an engine whose iterations train ``model`` on batches ``(x, y)``.

    The arguments and their order are pytorch-ignite's; ember's options (:class:`TrainingOptions`:
    ``amp_dtype``, ``clip_grad_norm``, ``clip_grad_value``) are keyword-only after them.

    Args:
        model: the ``nn.Module`` to train; moved to ``device`` when one is given.
        optimizer: the ``torch.optim.Optimizer`` over the model's parameters.
        loss_fn: ``loss_fn(y_pred, y) -> scalar tensor``, e.g. ``nn.CrossEntropyLoss()``.
        device: where the model and the batches go; ``None`` leaves both where they are.
        non_blocking: passed to ``tensor.to`` when batches are moved (asynchronous host-to-GPU copies).
        prepare_batch: ``fn(batch, device, non_blocking) -> (x, y)``; the default
            :func:`prepare_batch` takes a batch of two items.
        model_transform: applied to the model's output before the loss, e.g. ``lambda out: out["logits"]``.
        output_transform: ``fn(x, y, y_pred, loss) -> engine.state.output``; ``loss.item()`` by default.
        deterministic: ``True`` returns a :class:`~ember.engine.deterministic.DeterministicEngine`
            (reproducible data order and random state, exact mid-epoch resume).
        amp_mode: ``"amp"`` runs the forward pass and the loss under ``torch.autocast``: float16 on
            CUDA, or the ``amp_dtype`` given (``torch.bfloat16`` on the CPU). ``None``: no autocast
            (unless ``amp_dtype`` is given).
        scaler: ``True`` creates a ``torch.amp.GradScaler`` (with ``amp_mode="amp"`` or ``amp_dtype``);
            a ``GradScaler`` of your own is used as given. It is kept in ``engine.state.scaler`` so
            that a checkpoint can save it.
        gradient_accumulation_steps: ``k``: the optimizer steps once every ``k`` batches on the mean
            of their gradients (each batch's loss is divided by ``k``). Batches left at the end of an
            epoch or run are stepped too, on their own mean gradient.
        model_fn: ``fn(model, x) -> output``, for models called otherwise than ``model(x)``, e.g.
            ``lambda model, x: model(*x)`` for a model of several inputs.
        **options: :class:`TrainingOptions`.

    Returns:
        An :class:`~ember.engine.Engine`. Its ``state.output`` is the batch's loss as a float by
        default; ``state.optimizer_step`` counts optimizer steps (filter on
        ``TrainerEvents.OPTIMIZER_STEP_COMPLETED``); ``state.scaler`` holds the grad scaler (or
        ``None``). The model is in train mode during the run and stays so after it, as in pytorch-ignite.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``optimizer`` not an ``Optimizer``, a callable
            whose signature cannot take the call it gets, an unknown option, or another wrong type.
        ValueError: ``gradient_accumulation_steps < 1``, ``amp_mode`` not in ``(None, "amp")``, an
            ``amp_dtype`` other than bfloat16 and float16, float16 on the CPU, a scaler without mixed
            precision, or a clipping threshold that is not positive.

    Every argument is checked before the model is moved to ``device``.

    >>> from torch import nn
    >>> model = nn.Linear(3, 1)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> trainer = create_supervised_trainer(model, optimizer, nn.MSELoss(), clip_grad_norm=1.0)
    >>> isinstance(trainer.run([(torch.randn(4, 3), torch.randn(4, 1))] * 3).output, float)
    True
    """
    training = _check_training(
        "create_supervised_trainer",
        model,
        optimizer,
        loss_fn,
        device,
        non_blocking,
        prepare_batch,
        model_transform,
        output_transform,
        gradient_accumulation_steps,
        model_fn,
        amp_mode,
        scaler,
        options,
    )
    engine_class = _engine_class(deterministic)
    if training.common.target_device is not None:
        model.to(training.common.target_device)
    step = TrainingStep(training)
    # The step serves only this engine, attached here: the engine calls the step's method that skips
    # the check for a first call (cheaper, per iteration, than calling the step object itself).
    trainer = engine_class(step._attached_call)
    step.attach(trainer)
    return trainer


def _engine_class(deterministic: Any) -> type[Engine]:
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be a bool, got {deterministic!r} ({type(deterministic).__name__}).")
    if not deterministic:
        return Engine
    from ember.engine.deterministic import DeterministicEngine

    return DeterministicEngine
