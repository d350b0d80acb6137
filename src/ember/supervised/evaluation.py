"""The supervised evaluation step (:class:`EvaluationStep`) and the factories that build it and its evaluator."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ember.engine.engine import Engine
from ember.engine.events import Events
from ember.supervised.common import (
    Device,
    EvaluationOptions,
    PrepareBatch,
    _call_model,
    _check_callable,
    _check_common,
    _check_device,
    _check_options,
    _Common,
    _identity,
    _prediction_and_target,
    _Step,
    prepare_batch,
)

if TYPE_CHECKING:  # only annotations use it (typing.Unpack is Python 3.11+); nothing is imported at run time
    from typing_extensions import Unpack

__all__ = [
    "EvaluationStep",
    "create_supervised_evaluator",
    "supervised_evaluation_step",
    "supervised_evaluation_step_amp",
]

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
