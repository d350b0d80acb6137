"""``EpochMetric``: a function of all of an epoch's predictions and targets (ignite's ``epoch_metric`` module)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ember import distributed
from ember.exceptions import NotComputableError
from ember.metrics.metric import Metric

__all__ = ["EpochMetric", "EpochMetricWarning"]


class EpochMetricWarning(UserWarning):
    """Warned when ``compute_fn`` fails on the first batch (``check_compute_fn=True``)."""


def _as_rows(owner: str, what: str, value: torch.Tensor) -> torch.Tensor:
    if value.dim() == 2 and value.shape[1] == 1:
        value = value.squeeze(1)  # (N, 1) is read as (N,), as ignite does
    if value.dim() not in (1, 2):
        raise ValueError(
            f"{owner} expects {what} of shape (N,) or (N, C), got shape {tuple(value.shape)}. "
            "Reshape it in output_transform, e.g. y_pred.reshape(len(y_pred), -1)."
        )
    return value


class EpochMetric(Metric):
    """``compute_fn(y_preds, ys)`` on everything seen since the last reset, e.g. scikit-learn's ROC AUC.

    Every ``y_pred`` and ``y`` (shape ``(N,)`` or ``(N, C)``; ``(N, 1)`` is read as ``(N,)``) is kept
    until ``compute()``, which concatenates them along the first dimension and calls ``compute_fn``
    with the two tensors; memory grows with the epoch. Under ``torch.distributed``, ``compute()``
    gathers every rank's rows (uneven shards and empty ranks allowed) and every rank applies
    ``compute_fn`` to the union, in rank order.

    Args:
        compute_fn: ``(y_preds, ys) -> value``; a one-element tensor result is returned as a number.
        output_transform, device, skip_unrolling: see :class:`~ember.metrics.Metric`.
        check_compute_fn: call ``compute_fn`` on the first batch, and warn
            (:class:`EpochMetricWarning`) if it fails there, so a broken function shows early.

    >>> from sklearn.metrics import roc_auc_score
    >>> auc = EpochMetric(lambda y_preds, ys: roc_auc_score(ys.numpy(), y_preds.numpy()))
    >>> auc.update((torch.tensor([0.1, 0.8]), torch.tensor([0, 1])))
    >>> auc.update((torch.tensor([0.7, 0.3]), torch.tensor([0, 1])))
    >>> auc.compute()
    0.75
    """

    def __init__(
        self,
        compute_fn: Callable[[torch.Tensor, torch.Tensor], Any],
        output_transform: Callable[[Any], Any] | None = None,
        check_compute_fn: bool = True,
        device: str | torch.device = "cpu",
        skip_unrolling: bool = False,
    ) -> None:
        if not callable(compute_fn):
            raise TypeError(
                f"EpochMetric compute_fn must be callable as compute_fn(y_preds, ys), got {type(compute_fn).__name__}."
            )
        if not isinstance(check_compute_fn, bool):
            raise TypeError(f"EpochMetric check_compute_fn must be True or False, got {check_compute_fn!r}.")
        self.compute_fn = compute_fn
        self._check_compute_fn = check_compute_fn
        self._predictions: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        super().__init__(output_transform, device, skip_unrolling)

    def reset(self) -> None:
        """Forget the kept predictions and targets."""
        super().reset()
        self._predictions = []
        self._targets = []

    def update(self, output: Any) -> None:
        """Keep one batch's predictions and targets."""
        y_pred, y = self._unpack_pair(output)
        y_pred = _as_rows("EpochMetric", "y_pred", y_pred)
        y = _as_rows("EpochMetric", "y", y)
        if self._predictions:
            first_pred, first_y = self._predictions[0], self._targets[0]
            if y_pred.shape[1:] != first_pred.shape[1:] or y.shape[1:] != first_y.shape[1:]:
                raise ValueError(
                    f"EpochMetric got y_pred {tuple(y_pred.shape)} and y {tuple(y.shape)} after y_pred "
                    f"{tuple(first_pred.shape)} and y {tuple(first_y.shape)}: the shapes beyond the first "
                    "dimension must stay the same between resets."
                )
        self._predictions.append(y_pred.clone())
        self._targets.append(y.clone())
        if self._check_compute_fn and len(self._predictions) == 1:
            try:
                self.compute_fn(y_pred, y)
            except Exception as error:  # warned, not hidden: the epoch's data may still suit compute_fn
                warnings.warn(
                    f"EpochMetric compute_fn failed on the first batch with {type(error).__name__}: {error}. "
                    "compute() will call it on the whole epoch; pass check_compute_fn=False to skip this check.",
                    EpochMetricWarning,
                    stacklevel=2,
                )

    def _local_rows(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self._predictions:
            return None
        return torch.cat(self._predictions), torch.cat(self._targets)

    def _gathered_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        local = self._local_rows()
        if distributed.get_world_size() == 1:
            if local is None:
                raise NotComputableError(
                    "EpochMetric must have at least one update before compute() can give a value. "
                    "Call update(output) first, or attach it to an engine that runs at least one iteration."
                )
            return local
        # A rank without rows learns the rows' shapes and dtypes from the others, then all gather.
        layout = None if local is None else [(tuple(t.shape[1:]), str(t.dtype).removeprefix("torch.")) for t in local]
        layouts = [found for found in distributed.all_gather(layout) if found is not None]
        if not layouts:
            raise NotComputableError(
                "EpochMetric must have at least one update on some rank before compute() can give a value."
            )
        if local is None:
            (pred_shape, pred_dtype), (y_shape, y_dtype) = layouts[0]
            local = (
                torch.empty((0, *pred_shape), dtype=getattr(torch, pred_dtype), device=self.device),
                torch.empty((0, *y_shape), dtype=getattr(torch, y_dtype), device=self.device),
            )
        return distributed.all_gather(local[0]), distributed.all_gather(local[1])

    def compute(self) -> Any:
        """``compute_fn`` of all the rows seen (of every rank), returned as it is (as ignite does).

        Attached to an engine, a 0-dimensional tensor is stored as a number in ``engine.state.metrics``.
        """
        y_preds, ys = self._gathered_rows()
        return self.compute_fn(y_preds, ys)

    def _state_dict_per_rank(self) -> dict[str, Any]:
        """This rank's kept batches under ignite's names (``_predictions``, ``_targets``: lists of
        tensors), so the state loads into ignite's EpochMetric too, and ember's update count."""
        return {
            "_predictions": [tensor.clone() for tensor in self._predictions],
            "_targets": [tensor.clone() for tensor in self._targets],
            "_updates": self._updates,
        }

    def _load_state_dict_per_rank(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the rows saved by :meth:`state_dict`, by ignite's EpochMetric, or by ember before 0.2
        (``y_preds``/``ys``: the rows concatenated)."""
        if isinstance(state_dict, Mapping) and {"_predictions", "_targets"} <= set(state_dict):
            predictions = [torch.as_tensor(tensor).to(self.device) for tensor in state_dict["_predictions"]]
            targets = [torch.as_tensor(tensor).to(self.device) for tensor in state_dict["_targets"]]
            # ignite saves no update count: one kept tensor per update
            updates = state_dict.get("_updates", len(predictions))
        elif isinstance(state_dict, Mapping) and {"y_preds", "ys", "_updates"} <= set(state_dict):
            saved = state_dict["y_preds"] is not None
            predictions = [torch.as_tensor(state_dict["y_preds"]).to(self.device)] if saved else []
            targets = [torch.as_tensor(state_dict["ys"]).to(self.device)] if saved else []
            updates = state_dict["_updates"]
        else:
            raise KeyError(
                "EpochMetric.load_state_dict needs the keys '_predictions' and '_targets' (as EpochMetric.state_dict() "
                "and ignite save them), got "
                f"{sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__}. "
                "Pass a dict saved by EpochMetric.state_dict()."
            )
        if len(predictions) != len(targets):
            raise ValueError(
                f"EpochMetric.load_state_dict got {len(predictions)} prediction batches but {len(targets)} target "
                "batches: the state is damaged. Pass a dict saved by EpochMetric.state_dict()."
            )
        self.reset()
        self._predictions, self._targets = predictions, targets
        self._updates = int(updates)
