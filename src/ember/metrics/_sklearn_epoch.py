"""The metrics ignite computes with scikit-learn on a whole epoch's rows (ROC AUC, average precision ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ember.metrics._optional import require
from ember.metrics.epoch_metric import EpochMetric

__all__ = ["SKLEARN_EXTRA", "SklearnEpochMetric", "as_numpy_pair", "curve_tensors", "sklearn_metrics"]

#: the extra that installs scikit-learn
SKLEARN_EXTRA = "sklearn"


def sklearn_metrics(needed_by: str) -> Any:
    """``sklearn.metrics``, or a ``ModuleNotFoundError`` naming the extra."""
    return require("sklearn.metrics", needed_by, SKLEARN_EXTRA, package="scikit-learn")


def as_numpy_pair(y_preds: torch.Tensor, y_targets: torch.Tensor) -> tuple[Any, Any]:
    """``(y_true, y_score)`` as numpy arrays on the CPU, in scikit-learn's argument order."""
    return y_targets.detach().cpu().numpy(), y_preds.detach().cpu().numpy()


def curve_tensors(arrays: tuple[Any, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """scikit-learn's curve arrays as float64 tensors (copied: some have negative strides)."""
    return tuple(torch.tensor(array.copy(), dtype=torch.float64, device=device) for array in arrays)


class SklearnEpochMetric(EpochMetric):
    """An :class:`EpochMetric` whose ``compute_fn`` needs scikit-learn, and which checks shapes per batch.

    Subclasses set :attr:`same_shape` (``y_pred`` and ``y`` must have one shape) and
    :attr:`one_dimensional` (only ``(N,)`` inputs, after ``(N, 1)`` is read as ``(N,)``).
    """

    same_shape: bool = True
    one_dimensional: bool = False

    def __init__(
        self,
        compute_fn: Callable[[torch.Tensor, torch.Tensor], Any],
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = False,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        sklearn_metrics(type(self).__name__)
        super().__init__(compute_fn, output_transform, check_compute_fn, device, skip_unrolling)

    def update(self, output: Any) -> None:
        """Keep one batch's ``(y_pred, y)`` rows, after checking their shapes."""
        y_pred, y = self._unpack_pair(output)
        pred_shape = _squeezed_shape(y_pred)
        y_shape = _squeezed_shape(y)
        name = type(self).__name__
        if self.one_dimensional and (len(pred_shape) != 1 or len(y_shape) != 1):
            raise ValueError(
                f"{name} takes binary scores y_pred and labels y of shape (N,) (or (N, 1)), got y_pred "
                f"{tuple(y_pred.shape)} and y {tuple(y.shape)}. Compute it per class with output_transform."
            )
        if self.same_shape and pred_shape != y_shape:
            raise ValueError(
                f"{name} takes y_pred and y of the same shape, (N,) or (N, C), got y_pred {tuple(y_pred.shape)} "
                f"and y {tuple(y.shape)}. For C classes, pass y as one-hot (N, C) labels."
            )
        super().update((y_pred, y))


def _squeezed_shape(value: torch.Tensor) -> tuple[int, ...]:
    shape = tuple(value.shape)
    return shape[:1] if len(shape) == 2 and shape[1] == 1 else shape
