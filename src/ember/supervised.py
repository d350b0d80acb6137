"""Supervised training and evaluation: the step functions and the factories that assemble them.

The names and positional arguments are pytorch-ignite's (``ignite.engine``); ``ember.engine`` re-exports
them, so ``from ember.engine import create_supervised_trainer`` works as ignite's import line does.
ember's own options (clipping, bfloat16, no-grad mode, ...) are keyword-only, after ignite's arguments,
and are declared once, in :class:`TrainingOptions` and :class:`EvaluationOptions`.

A *step* is a process function ``step(engine, batch) -> output``: ``Engine(supervised_training_step(...))``
is a complete trainer. On its first call (or earlier, with ``step.attach(engine)``) a step adds the few
handlers it needs to its engine: switching the model's mode when the run starts, stepping a partial gradient
accumulation at the end of an epoch, counting optimizer steps. A step refers to its engine weakly, so
an engine built from a step is freed as soon as the last reference to it goes, like any other engine.

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
import inspect
import math
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import nn

from ember import distributed
from ember.distributed.sharding import gradient_sync, is_sharded
from ember.engine.engine import Engine
from ember.engine.events import EventEnum, Events
from ember.utils import apply_to_tensors

if TYPE_CHECKING:  # only annotations use it (typing.Unpack is Python 3.11+); nothing is imported at run time
    from typing_extensions import Unpack

__all__ = [
    "EvaluationOptions",
    "EvaluationStep",
    "TrainerEvents",
    "TrainingOptions",
    "TrainingStep",
    "create_supervised_evaluator",
    "create_supervised_trainer",
    "prepare_batch",
    "supervised_evaluation_step",
    "supervised_evaluation_step_amp",
    "supervised_training_step",
    "supervised_training_step_amp",
]

Device = str | torch.device | None
PrepareBatch = Callable[..., tuple[Any, Any]]
GradScaler = torch.amp.GradScaler

_AMP_DTYPES = (torch.bfloat16, torch.float16)


class TrainingOptions(TypedDict, total=False):
    """ember's keyword-only options of :func:`create_supervised_trainer` and the training steps.

    - ``amp_dtype``: ``torch.bfloat16`` or ``torch.float16``: run the forward pass and the loss under
      ``torch.autocast`` on the model's device type. bfloat16 works on CPUs and recent GPUs and needs
      no loss scaling; float16 is for GPUs. With ``amp_mode="amp"`` it picks the autocast dtype
      (float16 by default). Given without ``amp_mode``, float16 gets a ``GradScaler`` unless
      ``scaler`` says otherwise.
    - ``clip_grad_norm``: clip the gradients' total norm to this before each optimizer step.
    - ``clip_grad_value``: clip each gradient element to ``[-value, value]`` before each optimizer
      step (before ``clip_grad_norm`` when both are set).
    - ``grad_scaler``: ember's earlier name of ``scaler`` (a ``torch.amp.GradScaler``); give one or the other.
    """

    amp_dtype: torch.dtype | None
    clip_grad_norm: float | None
    clip_grad_value: float | None
    grad_scaler: GradScaler | None


class EvaluationOptions(TypedDict, total=False):
    """ember's keyword-only options of :func:`create_supervised_evaluator` and the evaluation steps.

    - ``amp_dtype``: as in :class:`TrainingOptions` (no loss scaling is involved in evaluation).
    - ``inference_mode``: ``True`` (default) runs under ``torch.inference_mode()``; ``False`` under
      ``torch.no_grad()``, for outputs that must later take part in autograd (inference tensors cannot).
    """

    amp_dtype: torch.dtype | None
    inference_mode: bool


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

# ---------------------------------------------------------------------------------------------- defaults


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


def _gradient_sync_kind(model: nn.Module) -> str | None:
    """``"ddp"`` or ``"fsdp"`` when ``model`` reduces its gradients across ranks in its backward, else None."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return "ddp"
    return "fsdp" if is_sharded(model) else None


def _identity(output: Any) -> Any:
    """The default ``model_transform``: the model's output is ``y_pred``."""
    return output


def _call_model(model: nn.Module, x: Any) -> Any:
    """The default ``model_fn``: ``model(x)``."""
    return model(x)


def _loss_item(x: Any, y: Any, y_pred: Any, loss: torch.Tensor) -> float:
    """The trainer's default ``output_transform``: the batch's loss as a float."""
    return loss.item()


def _prediction_and_target(x: Any, y: Any, y_pred: Any) -> tuple[Any, Any]:
    """The evaluator's default ``output_transform``: ``(y_pred, y)``, what metrics take."""
    return y_pred, y


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


def _check_callable(name: str, value: Any, expected: str, example: str, *args: Any, **kwargs: Any) -> None:
    """Check that ``value`` is callable and that its signature accepts the call the step will make."""
    if not callable(value):
        raise TypeError(f"{name} must be a callable {expected}, got {value!r} ({type(value).__name__}).")
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # some builtins have no signature to check; they are called as they are
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"{name} is called as {expected}, but its signature {signature} cannot take that call ({error}). "
            f"Give it the parameters {expected}, e.g. {example}."
        ) from None


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


def _check_amp(amp_mode: Any, amp_dtype: Any, device_type: str) -> torch.dtype | None:
    """The autocast dtype that ``amp_mode`` (ignite's spelling) and ``amp_dtype`` (ember's) ask for, or None."""
    if amp_mode == "apex":
        raise ValueError(
            "amp_mode='apex' (NVIDIA apex) is not supported by ember: apex's amp is superseded by torch's own "
            "mixed precision. Pass amp_mode='amp' for torch.autocast with float16 on CUDA (with scaler=True for "
            "loss scaling), or amp_dtype=torch.bfloat16."
        )
    if amp_mode is not None and amp_mode != "amp":
        raise ValueError(
            f"amp_mode must be None or 'amp', got amp_mode={amp_mode!r}. Pass amp_mode='amp' for mixed precision "
            "(torch.autocast; float16 on CUDA, or the dtype given as amp_dtype), or None for full precision."
        )
    if amp_dtype is not None:
        if not isinstance(amp_dtype, torch.dtype):
            raise TypeError(
                f"amp_dtype must be a torch.dtype (torch.bfloat16 or torch.float16) or None, got {amp_dtype!r} "
                f"({type(amp_dtype).__name__})."
            )
        if amp_dtype not in _AMP_DTYPES:
            raise ValueError(
                f"amp_dtype={amp_dtype} is not supported for mixed precision. Pass torch.bfloat16 or "
                "torch.float16, or None to run in the model's own precision."
            )
    dtype = amp_dtype if amp_dtype is not None else (torch.float16 if amp_mode == "amp" else None)
    if dtype is torch.float16 and device_type == "cpu":
        requested = "amp_dtype=torch.float16" if amp_dtype is not None else "amp_mode='amp' (float16 autocast)"
        raise ValueError(
            f"{requested} was requested for a model on the CPU, where float16 autocast is slow and unsupported "
            "by many operations. Use amp_dtype=torch.bfloat16 on the CPU (with or without amp_mode='amp'), or "
            "move the model to a GPU (device='cuda')."
        )
    return dtype


def _check_scaler(
    scaler: Any, grad_scaler: Any, amp_mode: str | None, amp_dtype: torch.dtype | None, device_type: str
) -> GradScaler | None:
    """The grad scaler to use: ignite's ``scaler`` (bool or instance) or ember's ``grad_scaler``."""
    if scaler is not None and not isinstance(scaler, (bool, GradScaler)):
        raise TypeError(
            f"scaler must be a bool or a torch.amp.GradScaler, got {scaler!r} ({type(scaler).__name__}). "
            "Pass scaler=True to create a GradScaler, or a GradScaler of your own."
        )
    if grad_scaler is not None and not isinstance(grad_scaler, GradScaler):
        raise TypeError(f"grad_scaler must be a torch.amp.GradScaler or None, got {type(grad_scaler).__name__}.")
    if grad_scaler is not None and scaler is not None and scaler is not False:
        raise ValueError(
            "Both scaler and grad_scaler were given; they are two names of the same option. Pass only scaler."
        )
    chosen = grad_scaler if grad_scaler is not None else scaler
    if chosen is None or chosen is False:
        if amp_dtype is torch.float16 and amp_mode is None:
            # ember's amp_dtype=torch.float16 comes with loss scaling, since float16 gradients underflow
            # without it; ignite's amp_mode='amp' scales only when asked (scaler=True), as in ignite.
            return GradScaler(device_type)
        return None
    if chosen is not True:
        return chosen  # a scaler of your own is used as given, in any precision
    if amp_dtype is None:
        raise ValueError(
            "scaler=True asks for loss scaling, which serves mixed precision, but mixed precision is off. "
            "Pass amp_mode='amp' as well (float16 autocast on CUDA), or leave scaler out."
        )
    return GradScaler(device_type)


def _check_positive_number(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number or None, got {value!r} ({type(value).__name__}).")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number, got {name}={value}. Pass e.g. {name}=1.0.")
    return float(value)


def _check_options(where: str, options: Mapping[str, Any], allowed: type) -> None:
    unknown = sorted(set(options) - set(allowed.__annotations__))
    if unknown:
        raise TypeError(
            f"{where}() got unexpected keyword arguments {unknown}. Its keyword-only ember options are "
            f"{sorted(allowed.__annotations__)}."
        )


@dataclass
class _Common:
    """What the training and the evaluation steps share, checked once."""

    model: nn.Module
    device: Device  # as the user gave it: prepare_batch gets a str as a str, as in pytorch-ignite
    target_device: torch.device | None
    non_blocking: bool
    prepare_batch: PrepareBatch
    model_transform: Callable[[Any], Any] | None  # None: the identity, skipped on the hot path
    model_fn: Callable[[nn.Module, Any], Any] | None  # None: model(x)
    amp_device_type: str
    amp_dtype: torch.dtype | None


def _check_common(
    model: Any,
    device: Any,
    non_blocking: Any,
    prepare_batch: Any,
    model_transform: Any,
    model_fn: Any,
    amp_mode: Any,
    amp_dtype: Any,
) -> _Common:
    _check_model(model)
    target_device = _check_device(device)
    if not isinstance(non_blocking, bool):
        raise TypeError(f"non_blocking must be a bool, got {non_blocking!r} ({type(non_blocking).__name__}).")
    _check_callable(
        "prepare_batch",
        prepare_batch,
        "(batch, device, non_blocking) -> (x, y)",
        "def prepare_batch(batch, device=None, non_blocking=False): ...",
        None,
        device=None,
        non_blocking=False,
    )
    _check_callable("model_transform", model_transform, "(model output) -> y_pred", "lambda output: output[0]", None)
    _check_callable("model_fn", model_fn, "(model, x) -> model output", "lambda model, x: model(*x)", None, None)
    device_type = _device_type(model, target_device)
    return _Common(
        model=model,
        device=device,
        target_device=target_device,
        non_blocking=non_blocking,
        prepare_batch=prepare_batch,
        model_transform=None if model_transform is _identity else model_transform,
        model_fn=None if model_fn is _call_model else model_fn,
        amp_device_type=device_type,
        amp_dtype=_check_amp(amp_mode, amp_dtype, device_type),
    )


class _Step(ABC):
    """What both steps share: the weak link to the one engine they serve."""

    _kind = "supervised"

    def __init__(self, common: _Common) -> None:
        self.model = common.model
        self.device = common.device
        self.non_blocking = common.non_blocking
        self.prepare_batch = common.prepare_batch
        self.model_transform = common.model_transform
        self.model_fn = common.model_fn
        self.amp_device_type = common.amp_device_type
        self.amp_dtype = common.amp_dtype
        # Weak, so that engine -> step (its process function and handlers) is no reference cycle.
        self._engine: weakref.ref[Engine] | None = None

    def attach(self, engine: Engine) -> None:
        """Wire this step to ``engine``, the engine whose process function calls it.

        Optional: a step attaches itself to the engine that first calls it. Call it before ``run``
        when handlers of yours must be added to :class:`TrainerEvents` before the first iteration.

        Raises:
            TypeError: ``engine`` is not an ember ``Engine``.
            RuntimeError: the step is already attached to another engine.
        """
        if not isinstance(engine, Engine):
            raise TypeError(f"attach expects an ember Engine, got {type(engine).__name__}.")
        attached = self._engine() if self._engine is not None else None
        if attached is engine:
            return
        if attached is not None:
            raise RuntimeError(
                f"This {self._kind} step is already attached to an engine; a step serves one engine. "
                f"Build another step with supervised_{self._kind}_step(...) for another engine."
            )
        self._wire(engine)
        self._engine = weakref.ref(engine)

    @abstractmethod
    def _wire(self, engine: Engine) -> None:
        """Add this kind of step's handlers to ``engine``."""

    def _attach_on_first_call(self, engine: Engine) -> None:
        """``Engine(step)`` without ``attach``: wire now, in the middle of the run's first iteration."""
        self.attach(engine)


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


# ---------------------------------------------------------------------------------------------- evaluation


class EvaluationStep(_Step):
    """One evaluation iteration as a process function; build it with :func:`supervised_evaluation_step`.

    ``Engine(step)`` is an evaluator; ``step(engine, batch)`` may also be called from a process
    function of your own. The step attaches itself to the engine that first calls it (see :meth:`attach`).
    """

    _kind = "evaluation"

    def __init__(self, common: _Common, output_transform: Callable[[Any, Any, Any], Any], inference_mode: bool) -> None:
        super().__init__(common)
        self.output_transform = output_transform
        self.inference_mode = inference_mode

    def attach(self, engine: Engine) -> None:
        """Wire this step to ``engine``: switch the model to eval mode at ``STARTED``.

        As in pytorch-ignite, the model stays in eval mode after the run; a trainer that runs this
        evaluator from one of its handlers switches the model back to train mode at its next
        iteration. A step attaches itself to the engine that first calls it; attaching again to the same engine
        does nothing.

        Raises:
            TypeError: ``engine`` is not an ember ``Engine``.
            RuntimeError: the step is already attached to another engine.
        """
        super().attach(engine)

    def _wire(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)

    def __call__(self, engine: Engine, batch: Any) -> Any:
        """Run the model on ``batch`` without gradients and return ``output_transform(x, y, y_pred)``."""
        attached = self._engine
        if attached is None or attached() is not engine:
            self._attach_on_first_call(engine)
        model = self.model
        if model.training:  # one flag read per iteration; eval() runs at STARTED, and here after a trainer's step
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
        # Switched here, before EPOCH_STARTED, so a submodule that a handler puts back in train
        # mode (dropout for Monte Carlo sampling) stays so from the first batch on.
        self.model.eval()


def _check_evaluation(
    where: str,
    model: Any,
    device: Any,
    non_blocking: Any,
    prepare_batch: Any,
    model_transform: Any,
    output_transform: Any,
    amp_mode: Any,
    model_fn: Any,
    options: Mapping[str, Any],
) -> EvaluationStep:
    _check_options(where, options, EvaluationOptions)
    common = _check_common(
        model, device, non_blocking, prepare_batch, model_transform, model_fn, amp_mode, options.get("amp_dtype")
    )
    _check_callable(
        "output_transform",
        output_transform,
        "(x, y, y_pred) -> output",
        "lambda x, y, y_pred: (y_pred, y)",
        None,
        None,
        None,
    )
    inference_mode = options.get("inference_mode", True)
    if not isinstance(inference_mode, bool):
        raise TypeError(f"inference_mode must be a bool, got {inference_mode!r} ({type(inference_mode).__name__}).")
    return EvaluationStep(common, output_transform, inference_mode)


def supervised_evaluation_step(
    model: nn.Module,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    model_transform: Callable[[Any], Any] = _identity,
    output_transform: Callable[[Any, Any, Any], Any] = _prediction_and_target,
    model_fn: Callable[[nn.Module, Any], Any] = _call_model,
    **options: Unpack[EvaluationOptions],
) -> EvaluationStep:
    """Build an evaluation step ``step(engine, batch) -> output``: ``Engine(step)`` is an evaluator.

    Each call switches the model to eval mode if it is not in it, then, under
    ``torch.inference_mode()`` (``torch.no_grad()`` with ``inference_mode=False``), splits and
    moves the batch, computes ``y_pred = model_transform(model_fn(model, x))`` (under
    ``torch.autocast`` when ``amp_dtype`` is set) and returns ``output_transform(x, y, y_pred)``.

    Args: as for :func:`create_supervised_evaluator`.

    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> step = supervised_evaluation_step(model, output_transform=lambda x, y, y_pred: y_pred.argmax(1))
    >>> Engine(step).run([(torch.randn(4, 3), torch.zeros(4))]).output.shape
    torch.Size([4])
    """
    return _check_evaluation(
        "supervised_evaluation_step",
        model,
        device,
        non_blocking,
        prepare_batch,
        model_transform,
        output_transform,
        None,
        model_fn,
        options,
    )


def supervised_evaluation_step_amp(
    model: nn.Module,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    model_transform: Callable[[Any], Any] = _identity,
    output_transform: Callable[[Any, Any, Any], Any] = _prediction_and_target,
    model_fn: Callable[[nn.Module, Any], Any] = _call_model,
    **options: Unpack[EvaluationOptions],
) -> EvaluationStep:
    """:func:`supervised_evaluation_step` under ``torch.autocast`` (``amp_mode="amp"``), ignite's signature.

    float16 on CUDA, or the ``amp_dtype`` given (``torch.bfloat16`` on the CPU).

    >>> from torch import nn
    >>> step = supervised_evaluation_step_amp(nn.Linear(3, 2), amp_dtype=torch.bfloat16)
    >>> Engine(step).run([(torch.randn(4, 3), torch.zeros(4))]).output[0].dtype
    torch.bfloat16
    """
    return _check_evaluation(
        "supervised_evaluation_step_amp",
        model,
        device,
        non_blocking,
        prepare_batch,
        model_transform,
        output_transform,
        "amp",
        model_fn,
        options,
    )


def create_supervised_evaluator(
    model: nn.Module,
    metrics: Mapping[str, Any] | None = None,
    device: Device = None,
    non_blocking: bool = False,
    prepare_batch: PrepareBatch = prepare_batch,
    model_transform: Callable[[Any], Any] = _identity,
    output_transform: Callable[[Any, Any, Any], Any] = _prediction_and_target,
    amp_mode: str | None = None,
    model_fn: Callable[[nn.Module, Any], Any] = _call_model,
    **options: Unpack[EvaluationOptions],
) -> Engine:
    """Build an engine that runs ``model`` without gradients on batches ``(x, y)``, for metrics.

    The arguments and their order are pytorch-ignite's; ember's options (:class:`EvaluationOptions`:
    ``amp_dtype``, ``inference_mode``) are keyword-only after them.

    Args:
        model: the ``nn.Module`` to evaluate; moved to ``device`` when one is given.
        metrics: metric names to metrics, attached to the evaluator; their values land in
            ``evaluator.state.metrics[name]``. A metric is an object with ``attach(engine, name)``
            (an ember metric) or a ``torchmetrics.Metric``, which is wrapped by
            ``ember.metrics.as_metric``.
        device, non_blocking, prepare_batch, model_transform, model_fn, amp_mode: as for
            :func:`create_supervised_trainer` (no loss scaling is involved here).
        output_transform: ``fn(x, y, y_pred) -> engine.state.output``; ``(y_pred, y)`` by default,
            which is what metrics expect.
        **options: :class:`EvaluationOptions`.

    Returns:
        An :class:`~ember.engine.Engine`. The model is in eval mode during the run and stays so
        after it, as in pytorch-ignite: call ``model.train()`` to train it outside a trainer.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``metrics`` is not a mapping of names to
            metrics, a callable whose signature cannot take the call it gets, or another wrong type.
        ValueError: ``amp_mode`` not in ``(None, "amp")``, an ``amp_dtype`` other than bfloat16 and
            float16, or float16 on the CPU.

    >>> from torch import nn
    >>> model = nn.Linear(3, 2)
    >>> evaluator = create_supervised_evaluator(model)
    >>> y_pred, y = evaluator.run([(torch.randn(4, 3), torch.zeros(4))]).output
    >>> y_pred.shape, y_pred.requires_grad, model.training  # left in eval mode, as by ignite
    (torch.Size([4, 2]), False, False)
    """
    step = _check_evaluation(
        "create_supervised_evaluator",
        model,
        device,
        non_blocking,
        prepare_batch,
        model_transform,
        output_transform,
        amp_mode,
        model_fn,
        options,
    )
    _check_metrics(metrics)
    target_device = _check_device(device)
    if target_device is not None:
        model.to(target_device)
    evaluator = Engine(step.__call__)  # the bound method, as for the trainer
    step.attach(evaluator)
    _attach_metrics(evaluator, metrics)
    return evaluator


def _check_metrics(metrics: Any) -> None:
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
            continue
        if not all(callable(getattr(metric, method, None)) for method in ("reset", "update", "compute")):
            raise TypeError(
                f"metrics[{name!r}] is a {type(metric).__name__}, which is not a metric: it has no "
                "attach(engine, name) method and is not a torchmetrics.Metric. Pass an ember metric "
                "or a torchmetrics metric."
            )


def _attach_metrics(evaluator: Engine, metrics: Mapping[str, Any] | None) -> None:
    for name, metric in (metrics or {}).items():
        if callable(getattr(metric, "attach", None)):
            metric.attach(evaluator, name)
            continue
        # Imported when needed: building a trainer does not import ember.metrics.
        as_metric = importlib.import_module("ember.metrics").as_metric
        as_metric(metric).attach(evaluator, name)
