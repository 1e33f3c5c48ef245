"""``y = max(0, x)``: the operator branch and bound splits on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.verify.ops.base import Affine, Box, Builder, Op


def relu_relaxation(
    lo: torch.Tensor, hi: torch.Tensor, slope: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear relaxation ``alpha z <= relu(z) <= s_up z + b_up`` for ``z`` in ``[lo, hi]``.

    Exact for stable neurons; ``slope`` (any value, clamped to ``[0, 1]``; broadcast against
    ``lo``/``hi``) replaces CROWN's adaptive lower slope on unstable ones. Returns ``alpha``
    (the broadcast shape of ``lo`` and ``slope``), ``s_up``, ``b_up`` (shape of ``lo``)."""
    unstable = (lo < 0) & (hi > 0)
    active = (lo >= 0).to(lo.dtype)
    # upper relaxation relu(z) <= s (z - l) on unstable neurons
    s_up = torch.where(unstable, hi / (hi - lo).clamp_min(1e-30), active)
    b_up = torch.where(unstable, -s_up * lo, torch.zeros_like(lo))
    # lower relaxation relu(z) >= alpha z, alpha in {0, 1} (CROWN's adaptive choice)
    # (or, for alpha-CROWN, any per-row slope in [0, 1]: each is a sound lower relaxation)
    free = (hi >= -lo).to(lo.dtype) if slope is None else slope.clamp(0.0, 1.0)
    return torch.where(unstable, free, active), s_up, b_up


@dataclass(frozen=True)
class ReLU(Op):
    """``y = max(0, x)`` elementwise."""

    nonlinear = True

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return xs[0].clamp_min(0)

    def interval(self, ins: Sequence[Box]) -> Box:
        lo, hi = ins[0]
        return lo.clamp_min(0), hi.clamp_min(0)

    def backward(
        self, a: torch.Tensor, ins: Sequence[Box], slope: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``slope``: alpha-CROWN's lower slopes (broadcast against ``a``), else CROWN's."""
        lo, hi = ins[0]
        alpha, s_up, b_up = relu_relaxation(lo, hi, slope)
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        return [pos * alpha + neg * s_up], (neg * b_up).sum(-1)

    def backward_csr(
        self, a: sp.csr_matrix, ins: Sequence[Box]
    ) -> tuple[list[sp.csr_matrix], np.ndarray] | None:
        lo, hi = ins[0]
        alpha, s_up, b_up = (t.numpy() for t in relu_relaxation(lo, hi))
        d, cols = a.data, a.indices
        neg = np.minimum(d, 0.0)
        # the same step as backward's, entry by entry: pos * alpha + neg * s_up, neg . b_up
        const = sp.csr_matrix((neg * b_up[cols], cols, a.indptr), shape=a.shape).sum(1).A1
        out = sp.csr_matrix(
            (np.where(d > 0, d * alpha[cols], neg * s_up[cols]), cols.copy(), a.indptr.copy()),
            shape=a.shape,
        )
        # in place on out's own index arrays (copied: they must not alias the caller's ``a``):
        # stably inactive neurons end their rows' paths here
        out.eliminate_zeros()
        return [out], const

    def encode(
        self, b: Builder, cols: Sequence[np.ndarray], ins: Sequence[Box], out: Box
    ) -> np.ndarray:
        """``l >= 0``: the input itself; ``u <= 0``: a fixed 0; unstable (``l < 0 < u``): a
        binary ``a`` with ``y >= z, y <= z - l (1 - a), y <= u a`` (MIPVerify's big-M)."""
        z = cols[0]
        lo, hi = (t.numpy() for t in ins[0])
        out_cols = z.copy()
        dead = hi <= 0
        if dead.any():
            out_cols[dead] = b.zero()
        unstable = np.nonzero((lo < 0) & (hi > 0))[0]
        m = unstable.size
        if m:
            lu, uu = lo[unstable], hi[unstable]
            y = b.add_cols(np.zeros(m), uu)
            a = b.add_cols(np.zeros(m), np.ones(m), integer=True)
            zi = z[unstable]
            rng = np.arange(m)
            # y - z >= 0 ; y - z - l a <= -l ; y - u a <= 0
            b.add_rows(
                np.concatenate([rng, rng]),
                np.concatenate([y, zi]),
                np.concatenate([np.ones(m), -np.ones(m)]),
                np.zeros(m),
                np.full(m, np.inf),
            )
            b.add_rows(
                np.concatenate([rng, rng, rng]),
                np.concatenate([y, zi, a]),
                np.concatenate([np.ones(m), -np.ones(m), -lu]),
                np.full(m, -np.inf),
                -lu,
            )
            b.add_rows(
                np.concatenate([rng, rng]),
                np.concatenate([y, a]),
                np.concatenate([np.ones(m), -uu]),
                np.full(m, -np.inf),
                np.zeros(m),
            )
            out_cols[unstable] = y
        return out_cols

    def affine(self, maps: Sequence[Affine], ins: Sequence[Box]) -> Affine | None:
        """With every neuron's phase fixed by its input bounds (a split domain)."""
        lo, hi = ins[0]
        if bool(((lo < 0) & (hi > 0)).any()):
            return None
        active = (lo >= 0).to(maps[0][0].dtype)
        return active.unsqueeze(1) * maps[0][0], active * maps[0][1]
