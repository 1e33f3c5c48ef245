"""``y = 1 / (1 + exp(-x))`` (ERAN's sigmoid nets): bounds and attacks handle it; the MILP
cannot encode it exactly, so networks with it get incomplete verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mlrobust.verify.ops.base import Box, Op

#: added to the sigmoid lines' intercepts (outwards): float64 rounding of sigmoid and of the
#: line through it is ~1e-16, far below this and far below the verifier's margin
SIGMOID_SLACK = 1e-12


def sigmoid_lines(
    lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear bounds ``kl x + bl <= sigmoid(x) <= ku x + bu`` on ``[lo, hi]`` (per neuron).

    Convex part (``hi <= 0``): chord above, tangent at the midpoint below; concave part
    (``lo >= 0``): the mirror image. Across 0: both lines get the slope ``k = min(s'(lo),
    s'(hi))``; sigmoid' is at least ``k`` on the whole interval, so ``sigmoid(x) - k x`` is
    increasing and the lines through ``(lo, s(lo))`` (below) and ``(hi, s(hi))`` (above) hold.
    """
    s_lo, s_hi = torch.sigmoid(lo), torch.sigmoid(hi)
    d_lo, d_hi = s_lo * (1 - s_lo), s_hi * (1 - s_hi)
    width = hi - lo
    chord = torch.where(width > 1e-9, (s_hi - s_lo) / width.clamp_min(1e-9), d_lo)
    mid = (lo + hi) / 2
    s_mid = torch.sigmoid(mid)
    tangent = s_mid * (1 - s_mid)
    k = torch.minimum(d_lo, d_hi)
    convex, concave = hi <= 0, lo >= 0
    kl = torch.where(convex, tangent, torch.where(concave, chord, k))
    ku = torch.where(convex, chord, torch.where(concave, tangent, k))
    bl = torch.where(convex, s_mid - tangent * mid, s_lo - kl * lo)
    bu = torch.where(concave, s_mid - tangent * mid, s_hi - ku * hi)
    return kl, bl - SIGMOID_SLACK, ku, bu + SIGMOID_SLACK


@dataclass(frozen=True)
class Sigmoid(Op):
    """``y = sigmoid(x)`` elementwise."""

    exact = False
    nonlinear = True

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.sigmoid(xs[0])

    def interval(self, ins: Sequence[Box]) -> Box:
        lo, hi = ins[0]
        return torch.sigmoid(lo), torch.sigmoid(hi)  # monotone

    def backward(
        self, a: torch.Tensor, ins: Sequence[Box]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        kl, bl, ku, bu = sigmoid_lines(*ins[0])
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        return [pos * kl + neg * ku], (pos * bl + neg * bu).sum(-1)
