"""Using torchmetrics metrics as ember metrics; torchmetrics stays an optional dependency."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember.engine import Engine
from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric, MetricUsage

__all__ = ["TorchmetricsMetric", "as_metric", "attach", "is_torchmetrics_metric"]


def is_torchmetrics_metric(value: Any) -> bool:
    """Whether ``value`` is a ``torchmetrics.Metric``; never imports torchmetrics itself.

    An object can only be a torchmetrics metric if torchmetrics is already imported, so the check
    looks it up in :data:`sys.modules`.

    >>> is_torchmetrics_metric(3)
    False
    """
    torchmetrics = sys.modules.get("torchmetrics")
    return torchmetrics is not None and isinstance(value, torchmetrics.Metric)


class TorchmetricsMetric(Metric):
    """An ember :class:`Metric` that drives a ``torchmetrics.Metric``.

    ``update(output)`` calls ``metric.update(*output)`` for a tuple or list (e.g. ``(y_pred, y)``),
    ``metric.update(**output)`` for a mapping, and ``metric.update(output)`` otherwise. Under
    ``torch.distributed``, torchmetrics combines its own state across ranks in ``compute()``.
    Usually built with :func:`as_metric`.

    >>> import torchmetrics
    >>> metric = TorchmetricsMetric(torchmetrics.MeanSquaredError())
    >>> metric.update((torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])))
    >>> metric.compute()
    2.5
    """

    def __init__(
        self,
        metric: Any,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if not is_torchmetrics_metric(metric):
            raise TypeError(
                f"TorchmetricsMetric wraps a torchmetrics.Metric, got {type(metric).__name__}. "
                "Pass an instance such as torchmetrics.classification.MulticlassAccuracy(num_classes=10)."
            )
        # Set before Metric.__init__, whose reset() resets the torchmetrics metric.
        self.metric = metric
        super().__init__(output_transform, device if device is not None else metric.device)
        self.metric = metric.to(self.device)

    required_output_keys = None  # a dict output is passed on as keyword arguments

    def reset(self) -> None:
        """Reset the torchmetrics metric."""
        super().reset()
        self.metric.reset()

    def update(self, output: Any) -> None:
        """Pass ``output`` to the torchmetrics metric's ``update``."""
        if isinstance(output, (tuple, list)):
            self.metric.update(*output)
        elif isinstance(output, Mapping):
            self.metric.update(**output)
        else:
            self.metric.update(output)

    def compute(self) -> Any:
        """The torchmetrics value; a one-element tensor comes back as a Python number."""
        if self.total_updates() == 0:
            raise NotComputableError(
                f"TorchmetricsMetric({type(self.metric).__name__}) must have at least one update before compute() "
                "can give a value. Call update(output) first, or attach it to an engine that runs an iteration."
            )
        value = self.metric.compute()
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            return value.item()
        return value

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """The torchmetrics state tensors (this rank's) and the update count."""
        states = {
            name: (value.detach().clone() if isinstance(value, torch.Tensor) else [v.detach().clone() for v in value])
            for name, value in self.metric.metric_state.items()
        }
        return {"states": states, "_updates": self._updates}

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the torchmetrics state saved by :meth:`state_dict`."""
        if not isinstance(state_dict, Mapping) or not {"states", "_updates"} <= set(state_dict):
            raise KeyError(
                "TorchmetricsMetric.load_state_dict needs a dict with keys 'states' and '_updates', got "
                f"{sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__}. "
                "Pass a dict saved by TorchmetricsMetric.state_dict()."
            )
        expected = set(self.metric.metric_state)
        if set(state_dict["states"]) != expected:
            raise ValueError(
                f"TorchmetricsMetric.load_state_dict got states {sorted(state_dict['states'])}, but "
                f"{type(self.metric).__name__} has {sorted(expected)}. Load a state saved by the same kind of metric."
            )
        for name, value in state_dict["states"].items():
            moved = value.to(self.device) if isinstance(value, torch.Tensor) else [v.to(self.device) for v in value]
            setattr(self.metric, name, moved)
        # torchmetrics caches its last value and counts updates; both must follow the loaded state.
        self.metric._update_count = int(state_dict["_updates"])
        self.metric._computed = None
        self._updates = int(state_dict["_updates"])


def as_metric(value: Any) -> Metric:
    """``value`` as an ember :class:`Metric`: an ember metric unchanged, a torchmetrics metric wrapped.

    >>> from ember.metrics import Accuracy
    >>> accuracy = Accuracy()
    >>> as_metric(accuracy) is accuracy
    True
    >>> import torchmetrics
    >>> type(as_metric(torchmetrics.MeanAbsoluteError())).__name__
    'TorchmetricsMetric'
    """
    if isinstance(value, Metric):
        return value
    if is_torchmetrics_metric(value):
        return TorchmetricsMetric(value)
    raise TypeError(
        f"Expected an ember.metrics.Metric or a torchmetrics.Metric, got {type(value).__name__}. "
        "Pass a metric object such as ember.metrics.Accuracy() or torchmetrics.MeanSquaredError()."
    )


def attach(metric: Any, engine: Engine, name: str, usage: str | MetricUsage | None = None) -> Metric:
    """Attach an ember or torchmetrics ``metric`` to ``engine`` under ``name``; returns the ember metric.

    The returned metric is what to ``detach`` later (a torchmetrics metric is wrapped first).

    >>> import torchmetrics
    >>> from ember.engine import Engine
    >>> engine = Engine(lambda engine, batch: batch)
    >>> _ = attach(torchmetrics.MeanMetric(), engine, "mean")
    >>> engine.run([torch.tensor(1.0), torch.tensor(5.0)]).metrics["mean"]
    3.0
    """
    wrapped = as_metric(metric)
    wrapped.attach(engine, name, usage)
    return wrapped
