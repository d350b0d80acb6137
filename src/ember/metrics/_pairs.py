"""Input checks shared by the pair metrics of ignite's long tail (similarities, divergences, distances)."""

from __future__ import annotations

from typing import Any

import torch

__all__: list[str] = []


def first_of(owner: str, output: Any, device: torch.device) -> torch.Tensor:
    """``y_pred`` from an ``(y_pred, y)`` pair (or ``(y_pred,)``), for metrics that read only the predictions."""
    if not isinstance(output, (tuple, list)) or not output or not isinstance(output[0], torch.Tensor):
        raise TypeError(
            f"{owner} expects output (after output_transform) to be a sequence whose first item is the tensor "
            f"y_pred, such as (y_pred, y), got {type(output).__name__}. Pass output_transform=lambda output: "
            "(y_pred, y) that picks them."
        )
    return output[0].detach().to(device)


def same_shape_floats(owner: str, y_pred: torch.Tensor, y: torch.Tensor, min_dims: int, layout: str) -> None:
    """Both of one shape with at least ``min_dims`` dimensions, in a float dtype; else a clear error."""
    if y_pred.shape != y.shape:
        raise ValueError(
            f"{owner} expects y_pred and y of the same shape, got y_pred {tuple(y_pred.shape)} and y "
            f"{tuple(y.shape)}. Give both as {layout}."
        )
    if y_pred.dim() < min_dims:
        raise ValueError(
            f"{owner} expects inputs of shape {layout}, got shape {tuple(y_pred.shape)}. Add the batch "
            "dimension, e.g. y_pred.unsqueeze(0) for a single example."
        )
    floating(owner, "y_pred", y_pred)
    floating(owner, "y", y)


def floating(owner: str, what: str, tensor: torch.Tensor) -> None:
    """A float tensor, or a TypeError naming the fix."""
    if not tensor.is_floating_point():
        raise TypeError(
            f"{owner} expects {what} of a float dtype, got {tensor.dtype}. Convert it, e.g. {what}.float()."
        )


def class_rows(owner: str, tensor: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` or ``(B, C, ...)`` scores as rows of ``C`` (each position of ``...`` is a prediction)."""
    if tensor.dim() < 2:
        raise ValueError(
            f"{owner} expects scores of shape (B, C) or (B, C, ...), got shape {tuple(tensor.shape)}. Add the "
            "batch dimension, e.g. y_pred.unsqueeze(0) for a single prediction."
        )
    if tensor.dim() == 2:
        return tensor
    return tensor.movedim(1, -1).reshape(-1, tensor.shape[1])
