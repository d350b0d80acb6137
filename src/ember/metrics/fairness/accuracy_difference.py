"""``SubgroupAccuracyDifference``: the largest accuracy gap between groups (ignite's module path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ember.metrics.accuracy import Accuracy
from ember.metrics.fairness.base import SubgroupDifference

__all__ = ["SubgroupAccuracyDifference"]


class SubgroupAccuracyDifference(SubgroupDifference):
    """The largest gap in :class:`~ember.metrics.Accuracy` between two groups of rows.

    ``output`` is ``(y_pred, y, group_labels)``; inputs as :class:`~ember.metrics.Accuracy` reads them.

    Args:
        groups: the group labels, e.g. ``[0, 1]``.
        is_multilabel: multilabel inputs, as :class:`~ember.metrics.Accuracy`.
        output_transform, device: see :class:`~ember.metrics.Metric`.

    >>> import torch
    >>> metric = SubgroupAccuracyDifference(groups=[0, 1])
    >>> metric.update((torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1]), torch.tensor([0, 0, 1, 1])))
    >>> metric.compute()
    0.5
    """

    def __init__(
        self,
        groups: Sequence[int],
        is_multilabel: bool = False,
        output_transform: Callable[[Any], Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(Accuracy(is_multilabel=is_multilabel, device=device), groups, output_transform, device)
