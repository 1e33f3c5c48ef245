"""``y_o = max_{j in window o} x_j``: max pooling, with its windows as index lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mlrobust.verify.ops.base import Box, Builder, Op


@dataclass(frozen=True, eq=False)
class MaxPool(Op):
    """``y_o = max_j x[groups[o, j]]``. Shape: ``groups [n_out, window]`` (long indices; a
    padded window repeats one of its cells, which leaves the max unchanged)."""

    groups: torch.Tensor
    n_in: int

    nonlinear = True

    @property
    def n_out(self) -> int:
        return int(self.groups.shape[0])

    def out_size(self, in_sizes: Sequence[int]) -> int:
        return self.n_out

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return xs[0][:, self.groups].amax(dim=-1)

    def interval(self, ins: Sequence[Box]) -> Box:
        lo, hi = ins[0]
        return lo[self.groups].amax(dim=-1), hi[self.groups].amax(dim=-1)

    def backward(
        self, a: torch.Tensor, ins: Sequence[Box]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``y >= x*`` (the input with the largest lower bound); ``y <= x*`` when ``x*``
        dominates its window (its lower bound is above every rival's upper bound), else
        ``y <= max u``."""
        lo, hi = ins[0]
        g = self.groups
        lw, uw = lo[g], hi[g]  # [n_out, window]
        best = lw.argmax(dim=1)
        star = g.gather(1, best.unsqueeze(1))[:, 0]  # input index with the largest lower bound
        l_star = lw.gather(1, best.unsqueeze(1))[:, 0]
        others = uw.scatter(1, best.unsqueeze(1), float("-inf"))
        # padding repeats a cell: a repeat of the best cell must not count as a rival
        others = torch.where(g == star.unsqueeze(1), torch.full_like(others, float("-inf")), others)
        dominant = l_star >= others.amax(dim=1)
        u_max = uw.amax(dim=1)
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        coef = pos + torch.where(dominant, neg, torch.zeros_like(neg))
        const = (torch.where(dominant, torch.zeros_like(neg), neg) * u_max).sum(-1)
        out = a.new_zeros(*a.shape[:-1], self.n_in)
        out.index_add_(out.dim() - 1, star, coef)
        return [out], const

    def encode(
        self, b: Builder, cols: Sequence[np.ndarray], ins: Sequence[Box], out: Box
    ) -> np.ndarray:
        """Candidates whose upper bound is below the best lower bound are dropped; a single
        survivor is the output, otherwise one binary per survivor selects the maximum."""
        x = cols[0]
        lo, hi = (t.numpy() for t in ins[0])
        out_cols = np.zeros(self.n_out, dtype=np.int64)
        groups = self.groups.numpy()
        for o in range(self.n_out):
            cand = np.unique(groups[o])
            best_lo = lo[cand].max()
            # pruning: these can never be the maximum otherwise (the best cell always stays)
            cand = cand[(hi[cand] >= best_lo) | (lo[cand] >= best_lo)]
            if cand.size == 1:
                out_cols[o] = x[cand[0]]
                continue
            u_max = hi[cand].max()
            y = b.add_cols(np.array([best_lo]), np.array([u_max]))[0]
            a = b.add_cols(np.zeros(cand.size), np.ones(cand.size), integer=True)
            m = cand.size
            rng = np.arange(m)
            b.add_rows(
                np.concatenate([rng, rng]),
                np.concatenate([np.full(m, y), x[cand]]),
                np.concatenate([np.ones(m), -np.ones(m)]),
                np.zeros(m),
                np.full(m, np.inf),
            )
            big = u_max - lo[cand]
            # y <= x_j + (u_max - l_j)(1 - a_j)
            b.add_rows(
                np.concatenate([rng, rng, rng]),
                np.concatenate([np.full(m, y), x[cand], a]),
                np.concatenate([np.ones(m), -np.ones(m), big]),
                np.full(m, -np.inf),
                big,
            )
            b.add_rows(np.zeros(m), a, np.ones(m), np.ones(1), np.ones(1))
            out_cols[o] = y
        return out_cols
