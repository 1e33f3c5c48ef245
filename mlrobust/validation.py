"""Checks on user-provided tensors, with errors that say what is wrong and how to fix it."""

from __future__ import annotations

import torch

from mlrobust.errors import InputError


def check_images(
    x: torch.Tensor, *, name: str = "x", domain: tuple[float, float] = (0.0, 1.0)
) -> None:
    """Raise :class:`InputError` unless ``x`` is a finite float ``[N, C, H, W]`` batch in
    ``domain``."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 4:
        raise InputError(
            f"{name} must have shape [N, C, H, W], got {tuple(x.shape)}; "
            "add a batch dimension with x.unsqueeze(0) for a single image."
        )
    if not x.is_floating_point():
        raise InputError(f"{name} must be a float tensor in [0, 1]; convert with x.float() / 255.")
    if not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite pixels; clean the input first.")
    lo, hi = domain
    if x.numel() and (x.min() < lo or x.max() > hi):
        raise InputError(
            f"{name} has pixels outside [{lo}, {hi}] (min {x.min().item():.4g}, "
            f"max {x.max().item():.4g}); scale images to [{lo}, {hi}] (e.g. divide by 255)."
        )


def check_labels(y: torch.Tensor, num_labels: int, *, name: str = "y") -> None:
    """Raise :class:`InputError` unless ``y`` is a ``[N, num_labels]`` multi-hot matrix."""
    if y.dim() != 2 or y.shape[1] != num_labels:
        raise InputError(
            f"{name} must have shape [N, {num_labels}] (one column per label), got "
            f"{tuple(y.shape)}; check that the model and dataset use the same label list."
        )
    if y.dtype != torch.bool and not ((y == 0) | (y == 1)).all():
        raise InputError(f"{name} must be multi-hot (0/1 or bool values).")
