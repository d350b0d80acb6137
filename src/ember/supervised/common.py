"""What the supervised steps share: their options, events and defaults, the argument checks, the step base class."""

from __future__ import annotations

import inspect
import math
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import torch
from torch import nn

from ember.distributed.sharding import is_sharded
from ember.engine.engine import Engine
from ember.engine.events import EventEnum
from ember.utils import apply_to_tensors

__all__ = [
    "EvaluationOptions",
    "TrainerEvents",
    "TrainingOptions",
    "prepare_batch",
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
