"""Independent references for soundness checks: counterexample search on the *real* model (PGD
with restarts plus dense sampling), and witness checks with zero tolerance."""

from __future__ import annotations

import math
from pathlib import Path

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


def assert_onnx_witness(onnx_path: Path, vnnlib_path: Path, witness: torch.Tensor | None) -> None:
    """A ``sat`` answer's counterexample lies in one of the property's input regions (zero
    tolerance) and violates that region's output constraints under onnxruntime, run here
    directly (not through mlrobust's oracle)."""
    import numpy as np
    import onnxruntime as ort

    from mlrobust.verify.vnnlib import read_vnnlib

    assert witness is not None, "sat without a counterexample"
    prop = read_vnnlib(vnnlib_path)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    dtype = np.float64 if "double" in inp.type else np.float32
    w = witness.reshape(-1).double()
    assert torch.equal(w.to(torch.float32 if dtype == np.float32 else torch.float64).double(), w), (
        "witness not exact in the network's dtype"
    )
    y = session.run(None, {inp.name: w.numpy().astype(dtype).reshape(shape)})[0]
    y = torch.from_numpy(np.asarray(y, dtype=np.float64).reshape(1, -1))
    hits = [r for r in prop.regions if bool((w >= r.lo).all() and (w <= r.hi).all())]
    assert hits, "counterexample outside every input region"
    assert any(bool(r.spec.violated(y)[0]) for r in hits), "no output constraint violated"
