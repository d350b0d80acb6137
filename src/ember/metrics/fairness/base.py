"""``SubgroupMetric`` and ``SubgroupDifference``: a metric per subgroup of the data (ignite's ``fairness.base``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__ = ["SubgroupDifference", "SubgroupMetric"]


class _Subgroups(Metric):
    """One copy of ``base_metric`` per group; each batch's rows go to the copy of their group."""

    required_output_keys = ("y_pred", "y", "group_labels")

    def __init__(
        self,
        base_metric: Metric,
        groups: Sequence[Any],
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        name = type(self).__name__
        if not isinstance(base_metric, Metric):
            raise TypeError(f"{name} base_metric must be an ember Metric, got {type(base_metric).__name__}.")
        if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups:
            raise ValueError(f"{name} groups must be a non-empty sequence of group labels, got {groups!r}.")
        if len(set(groups)) != len(groups):
            raise ValueError(f"{name} groups must be distinct, got {list(groups)}.")
        self._base_metric = base_metric
        self._groups = list(groups)
        self._metrics: dict[Any, Metric] = {group: copy.deepcopy(base_metric) for group in self._groups}
        super().__init__(output_transform, device)

    def reset(self) -> None:
        """Reset every group's metric."""
        super().reset()
        for metric in getattr(self, "_metrics", {}).values():
            metric.reset()

    def update(self, output: Any) -> None:
        """Update each group's metric with the rows of that group (groups absent from the batch are skipped)."""
        name = type(self).__name__
        if not isinstance(output, (tuple, list)) or len(output) != 3:
            raise ValueError(
                f"{name} expects output (after output_transform) to be (y_pred, y, group_labels), got "
                f"{type(output).__name__} of {len(output) if isinstance(output, (tuple, list)) else 'no'} items. "
                "Return the group of each row too, e.g. output_transform=lambda out: (out[0], out[1], out[2])."
            )
        y_pred, y, group_labels = (torch.as_tensor(item).detach().to(self.device) for item in output)
        if not (y_pred.dim() and y.dim() and group_labels.dim()) or not (
            y_pred.shape[0] == y.shape[0] == group_labels.shape[0]
        ):
            raise ValueError(
                f"{name} expects y_pred, y and group_labels with the same first dimension (one group per row), got "
                f"shapes {tuple(y_pred.shape)}, {tuple(y.shape)} and {tuple(group_labels.shape)}."
            )
        for group, metric in self._metrics.items():
            rows = group_labels == group
            if bool(rows.any()):
                metric.update((y_pred[rows], y[rows]))

    def _group_values(self) -> dict[Any, Any]:
        """``{group: value}`` for the groups with data (a collective per group under ``torch.distributed``)."""
        values = {}
        for group, metric in self._metrics.items():
            try:
                values[group] = metric.compute()
            except NotComputableError:
                continue
        return values

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """This rank's states of the groups' metrics, keyed by ``str(group)``."""
        return {"metrics": {str(group): metric._state_dict_per_rank() for group, metric in self._metrics.items()}}

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the states saved by :meth:`_state_dict_per_rank`."""
        saved = state_dict.get("metrics") if isinstance(state_dict, Mapping) else None
        expected = {str(group) for group in self._metrics}
        if not isinstance(saved, Mapping) or set(saved) != expected:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict needs {{'metrics': {{group: state}}}} for the groups "
                f"{sorted(expected)}, got {sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__}."
            )
        for group, metric in self._metrics.items():
            metric._load_state_dict_per_rank(saved[str(group)])


class SubgroupMetric(_Subgroups):
    """``base_metric`` computed separately for each group of rows: ``{group: value}``.

    ``output`` is ``(y_pred, y, group_labels)`` (attached, a dict output gives its ``"y_pred"``,
    ``"y"`` and ``"group_labels"`` items); each row goes to the copy of ``base_metric`` of its
    group. Groups without rows are left out of the value.

    Args:
        base_metric: the metric to compute per group (copied once per group).
        groups: the group labels, e.g. ``[0, 1]``.
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> from ember.metrics import Accuracy
    >>> metric = SubgroupMetric(Accuracy(), groups=[0, 1])
    >>> metric.update((torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 0]), torch.tensor([0, 0, 1, 1])))
    >>> metric.compute()
    {0: 1.0, 1: 0.0}
    """

    def compute(self) -> dict[Any, Any]:
        """``{group: base metric's value on the group's rows}``."""
        return self._group_values()


class SubgroupDifference(_Subgroups):
    """The largest gap of ``base_metric`` between two groups: ``max(values) - min(values)``.

    For a metric whose value is a tensor (per-class values), the gap is taken per entry and the
    largest is returned. Inputs as :class:`SubgroupMetric`; it needs two groups with rows.

    >>> import torch
    >>> from ember.metrics import Accuracy
    >>> metric = SubgroupDifference(Accuracy(), groups=[0, 1])
    >>> metric.update((torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1]), torch.tensor([0, 0, 1, 1])))
    >>> metric.compute()
    0.5
    """

    def compute(self) -> float:
        """The largest difference between the groups' values."""
        values = list(self._group_values().values())
        if len(values) < 2:
            raise NotComputableError(
                f"{type(self).__name__} compares groups, but {len(values)} of the groups {self._groups} had rows. "
                "It needs rows of at least two groups."
            )
        if all(isinstance(value, torch.Tensor) for value in values):
            stacked = torch.stack(values)
            return float((stacked.max(dim=0).values - stacked.min(dim=0).values).max().item())
        return float(max(values) - min(values))
