"""Layers around a perturbed object and layered neighbourhoods (paper 000, section 2).

Layer ``d`` is the set of pixels at Chebyshev distance exactly ``d`` from the perturbed object's
pixels (``d = 0`` is the object itself); the layers ``0..r`` cover the whole image. A layered
neighbourhood gives every pixel of layer ``d`` the radius ``eps_d``: it is a
:class:`~mlrobust.threats.PixelBox` whose radius is constant per layer, so attacks and the
verifier take it unchanged.

Example:
    >>> import torch
    >>> mask = torch.zeros(3, 4, dtype=torch.bool); mask[0, 0] = True
    >>> layer_map(mask).tolist()
    [[0, 1, 2, 3], [1, 1, 2, 3], [2, 2, 2, 3]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from mlrobust.errors import InputError
from mlrobust.threats import PixelBox


def layer_map(mask: torch.Tensor) -> torch.Tensor:
    """Chebyshev distance of every pixel to the object's pixels (0 on the object).

    Shapes: ``mask`` bool ``[H, W]`` -> long ``[H, W]``.
    """
    if mask.dim() != 2:
        raise InputError(f"layer_map takes one object mask [H, W], got shape {tuple(mask.shape)}.")
    m = mask.detach().cpu().numpy().astype(bool)
    if not m.any():
        raise InputError(
            "The object mask is empty: layers are distances to the object's pixels, "
            "so the perturbed object needs at least one pixel."
        )
    # distance_transform_cdt measures the distance to the nearest zero: invert the mask
    dist = ndimage.distance_transform_cdt(~m, metric="chessboard")
    return torch.from_numpy(dist.astype(np.int64))


def layer_sizes(layers: torch.Tensor) -> torch.Tensor:
    """Pixels per layer: ``layers [H, W]`` -> long ``[r + 1]``."""
    return torch.bincount(layers.flatten(), minlength=int(layers.max()) + 1)


@dataclass(frozen=True)
class LayeredBox:
    """A layered neighbourhood: ``|x'_p - x_p| <= eps[layers[p]]`` (clipped to ``domain``).

    Shapes: ``eps`` float ``[r + 1]``; ``layers`` long ``[H, W]`` with values ``0..r``.
    The radius broadcasts over channels: ``radius(C) -> [C, H, W]``.
    """

    eps: torch.Tensor = field(compare=False)
    layers: torch.Tensor = field(compare=False)
    domain: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.eps.dim() != 1:
            raise InputError(f"eps must be a vector [r + 1], got shape {tuple(self.eps.shape)}.")
        if self.layers.dim() != 2:
            raise InputError(f"layers must be a map [H, W], got shape {tuple(self.layers.shape)}.")
        r = int(self.layers.max())
        if int(self.layers.min()) < 0 or self.eps.numel() != r + 1:
            raise InputError(
                f"The layer map has layers 0..{r}, so eps needs {r + 1} entries; "
                f"got {self.eps.numel()}."
            )
        if not torch.isfinite(self.eps).all() or (self.eps < 0).any():
            raise InputError("eps must be finite and >= 0 in every layer.")

    @property
    def depth(self) -> int:
        """``r``, the largest layer index."""
        return self.eps.numel() - 1

    def radius(self, channels: int = 1) -> torch.Tensor:
        """Per-pixel radius ``[channels, H, W]``."""
        r = self.eps.to(torch.float32)[self.layers]
        return r.unsqueeze(0).expand(channels, *r.shape).contiguous()

    def pixel_box(self, channels: int = 1) -> PixelBox:
        """The same neighbourhood as a :class:`PixelBox` (for attacks and the verifier)."""
        return PixelBox(self.radius(channels), domain=self.domain)

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel bounds for ``x [N, C, H, W]``."""
        return self.pixel_box(x.shape[1]).bounds(x)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_box(x.shape[1]).project(x_adv, x)

    def contains(self, x_adv: torch.Tensor, x: torch.Tensor, tol: float = 0.0) -> bool:
        """Whether every pixel of ``x_adv`` lies in the neighbourhood of ``x`` (same shape)."""
        lo, hi = self.bounds(x)
        return bool(((x_adv >= lo - tol) & (x_adv <= hi + tol)).all())


def layer_means(values: torch.Tensor, layers: torch.Tensor) -> torch.Tensor:
    """Mean of ``values [.., H, W]`` (summed over leading dims) per layer -> ``[r + 1]``."""
    v = values.reshape(-1, *layers.shape).sum(0).flatten().to(torch.float64)
    idx = layers.flatten()
    sums = torch.zeros(int(layers.max()) + 1, dtype=torch.float64).index_add_(0, idx, v)
    return sums / layer_sizes(layers).clamp_min(1)


def layer_sums(values: torch.Tensor, layers: torch.Tensor) -> torch.Tensor:
    """Sum of ``values [.., H, W]`` per layer -> ``[r + 1]``."""
    v = values.reshape(-1, *layers.shape).sum(0).flatten().to(torch.float64)
    return torch.zeros(int(layers.max()) + 1, dtype=torch.float64).index_add_(
        0, layers.flatten(), v
    )
