"""Independent references for soundness checks: counterexample search on the *real* model (PGD
with restarts plus dense sampling), and witness checks with zero tolerance."""

from __future__ import annotations

import math

import torch
from torch import nn

from mlrobust.verify.spec import OutputSpec


def search_counterexample(
    model: nn.Module,
    lo: torch.Tensor,
    hi: torch.Tensor,
    spec: OutputSpec,
    *,
    restarts: int = 8,
    steps: int = 40,
    samples: int = 2000,
    seed: int = 0,
) -> torch.Tensor | None:
    """A point of the box ``[lo, hi]`` (shape of one input, the model's dtype) where the real
    model violates ``spec``, found by signed-gradient ascent on the spec value from random
    starts and by uniform samples plus corners; None if none is found."""
    gen = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    lo, hi = lo.to(dtype), hi.to(dtype)
    shape = lo.shape

    def value(x: torch.Tensor) -> torch.Tensor:
        return spec.value(model(x.reshape(-1, *shape)))

    with torch.no_grad():
        xs = lo + (hi - lo) * torch.rand(samples, *shape, generator=gen, dtype=dtype)
        corners = torch.where(torch.rand(64, *shape, generator=gen) < 0.5, lo, hi)
        xs = torch.cat([xs, corners])
        hit = _violating(model, xs, spec, shape)
        if hit is not None:
            return hit
    x = lo + (hi - lo) * torch.rand(restarts, *shape, generator=gen, dtype=dtype)
    width = hi - lo
    for t in range(steps):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(value(x).sum(), x)
        step = width * (0.25 * (1 - t / steps) + 0.01)
        x = torch.max(torch.min(x.detach() + step * g.sign(), hi), lo)
        hit = _violating(model, x, spec, shape)
        if hit is not None:
            return hit
    return None


def _violating(
    model: nn.Module, xs: torch.Tensor, spec: OutputSpec, shape: torch.Size
) -> torch.Tensor | None:
    with torch.no_grad():
        bad = spec.violated(model(xs.reshape(-1, *shape)).double())
    idx = bad.nonzero()
    return None if not len(idx) else xs[int(idx[0, 0])].detach()


def assert_witness(
    model: nn.Module, witness: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, spec: OutputSpec
) -> None:
    """A FALSIFIED witness must lie in the box (zero tolerance, float64) and violate the spec
    on a fresh forward pass of the real model in its own dtype."""
    w = witness.reshape(lo.shape).double()
    assert bool((w >= lo.double()).all() and (w <= hi.double()).all()), "witness outside box"
    dtype = next(model.parameters()).dtype
    assert torch.equal(w.to(dtype).double(), w), "witness not exact in the model's dtype"
    with torch.no_grad():
        y = model(w.to(dtype).reshape(1, *lo.shape)).double()
    assert bool(spec.violated(y)[0]), f"witness does not violate {spec.name}"
    assert math.isfinite(float(spec.value(y)[0]))
