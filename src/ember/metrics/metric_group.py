"""``MetricGroup``: several metrics updated and computed as one (ignite's ``metric_group`` module)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ember.metrics.metric import Metric

__all__ = ["MetricGroup"]


class MetricGroup(Metric):
    """Several metrics as one: each update goes to every metric (through its own ``output_transform``),
    and ``compute()`` returns ``{name: value}``.

    Attached under ``name``, the engine's metrics get each item under its own key and the dict under
    ``name`` (``metrics_result_mode="both"``, as any metric whose value is a dict).

    Args:
        metrics: ``{name: metric}``.
        output_transform, skip_unrolling: see :class:`~ember.metrics.Metric`; the group's transform
            runs first, then each metric's own.

    >>> import torch
    >>> from ember.metrics import Accuracy, MeanSquaredError
    >>> group = MetricGroup({"accuracy": Accuracy(), "mse": MeanSquaredError()})
    >>> group.update((torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1])))
    >>> group.compute()
    {'accuracy': 0.75, 'mse': 0.25}
    """

    def __init__(
        self,
        metrics: dict[str, Metric],
        output_transform: Callable[[Any], Any] | None = None,
        skip_unrolling: bool = False,
    ) -> None:
        if not isinstance(metrics, Mapping) or not all(
            isinstance(key, str) and isinstance(value, Metric) for key, value in metrics.items()
        ):
            raise TypeError(
                f"MetricGroup takes a dict of {{name: Metric}}, got {metrics!r}. Pass e.g. "
                "MetricGroup({'accuracy': Accuracy(), 'loss': Loss(loss_fn)})."
            )
        self.metrics = dict(metrics)
        super().__init__(output_transform, skip_unrolling=skip_unrolling)

    def reset(self) -> None:
        """Reset every metric of the group."""
        super().reset()
        for metric in getattr(self, "metrics", {}).values():
            metric.reset()

    def update(self, output: Any) -> None:
        """Update every metric with ``output`` passed through its own ``output_transform``."""
        for metric in self.metrics.values():
            metric.update(metric.output_transform(output))

    def compute(self) -> dict[str, Any]:
        """``{name: metric.compute()}`` (each a collective under ``torch.distributed``)."""
        return {name: metric.compute() for name, metric in self.metrics.items()}

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """This rank's states of the group's metrics."""
        return {"metrics": {name: metric._state_dict_per_rank() for name, metric in self.metrics.items()}}

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the states saved by :meth:`_state_dict_per_rank`."""
        saved = state_dict.get("metrics") if isinstance(state_dict, Mapping) else None
        if not isinstance(saved, Mapping) or set(saved) != set(self.metrics):
            raise ValueError(
                f"MetricGroup.load_state_dict needs {{'metrics': {{name: state}}}} for {sorted(self.metrics)}, got "
                f"{sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__}. Load a state saved by a "
                "group of the same metrics."
            )
        for name, metric in self.metrics.items():
            metric._load_state_dict_per_rank(saved[name])
