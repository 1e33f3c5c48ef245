"""Threat models (neighbourhoods): the sets of inputs an attack may reach and a verifier must cover.

Each threat model is an immutable value shared by attacks and verifiers. All of them live inside
an input domain (``[0, 1]`` pixels by default) and provide:

* ``bounds(x)``: per-pixel lower and upper bounds of a box containing the neighbourhood
  (exact for boxes and l_inf balls, an over-approximation for the l_2 ball);
* ``project(x_adv, x)``: the closest point of the neighbourhood (used by iterative attacks).

Shapes: ``x`` and ``x_adv`` are ``[N, C, H, W]`` (or any ``[N, ...]``); bounds have the shape
of ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mlrobust.errors import InputError


@dataclass(frozen=True)
class _Ball:
    """Shared part of the norm balls: the radius, the domain and the enclosing box."""

    eps: float
    domain: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        _check_eps(self.eps)
        _check_domain(self.domain)

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # exact for l_inf; for l_2 the enclosing box, a sound over-approximation for verifiers
        lo, hi = self.domain
        return (x - self.eps).clamp(lo, hi), (x + self.eps).clamp(lo, hi)


@dataclass(frozen=True)
class LinfBall(_Ball):
    """``{x' : ||x' - x||_inf <= eps} ∩ [lo, hi]^d``."""

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        lower, upper = self.bounds(x)
        return torch.max(torch.min(x_adv, upper), lower)


@dataclass(frozen=True)
class L2Ball(_Ball):
    """``{x' : ||x' - x||_2 <= eps} ∩ [lo, hi]^d`` (norm taken per sample)."""

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # Scale onto the ball, then clip to the domain; clipping toward x never leaves the ball
        # because the domain contains x.
        delta = x_adv - x
        norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        factor = (self.eps / norms).clamp(max=1.0).view(-1, *([1] * (x.dim() - 1)))
        lo, hi = self.domain
        return (x + delta * factor).clamp(lo, hi)


@dataclass(frozen=True)
class PixelBox:
    """``{x' : |x'_p - x_p| <= radius_p for every pixel p} ∩ [lo, hi]^d``.

    ``radius`` has the shape of one sample (``[C, H, W]``) or of the whole batch (``[N, C, H, W]``).
    Layered neighbourhoods (paper 000) are pixel boxes whose radius is constant per layer.
    """

    radius: torch.Tensor = field(compare=False)
    domain: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        _check_domain(self.domain)
        if not torch.isfinite(self.radius).all():
            raise InputError("PixelBox radius contains NaN or infinite values.")
        if (self.radius < 0).any():
            raise InputError("PixelBox radius must be >= 0 everywhere; got a negative entry.")

    def _radius_for(self, x: torch.Tensor) -> torch.Tensor:
        r = self.radius.to(dtype=x.dtype, device=x.device)
        if r.shape == x.shape[1:]:
            return r.unsqueeze(0)
        if r.shape == x.shape:
            return r
        raise InputError(
            f"PixelBox radius has shape {tuple(r.shape)}, which fits neither one sample "
            f"{tuple(x.shape[1:])} nor the batch {tuple(x.shape)}."
        )

    def bounds(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self._radius_for(x)
        lo, hi = self.domain
        return (x - r).clamp(lo, hi), (x + r).clamp(lo, hi)

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        lower, upper = self.bounds(x)
        return torch.max(torch.min(x_adv, upper), lower)


ThreatModel = LinfBall | L2Ball | PixelBox


def _check_eps(eps: float) -> None:
    if not (eps == eps) or eps < 0 or eps == float("inf"):
        raise InputError(f"eps must be a finite number >= 0, got {eps}.")


def _check_domain(domain: tuple[float, float]) -> None:
    lo, hi = domain
    if not lo < hi:
        raise InputError(f"Input domain must satisfy lo < hi, got {domain}.")
