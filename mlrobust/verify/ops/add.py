"""``y = sum_i s_i x_i`` of variable tensors of one size: residual connections (Add), and
Sub (scales 1, -1). Additions of constants are folded into a Linear's bias instead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.verify.ops.base import Affine, Box, Builder, Op


@dataclass(frozen=True)
class Add(Op):
    """``y = sum_i scales[i] * x_i``; every input has the output's size."""

    scales: tuple[float, ...]

    arity = None

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        out = self.scales[0] * xs[0]
        for s, x in zip(self.scales[1:], xs[1:], strict=True):
            out = out + s * x
        return out

    def interval(self, ins: Sequence[Box]) -> Box:
        lows = [s * (a if s >= 0 else b) for s, (a, b) in zip(self.scales, ins, strict=True)]
        highs = [s * (b if s >= 0 else a) for s, (a, b) in zip(self.scales, ins, strict=True)]
        return torch.stack(lows).sum(0), torch.stack(highs).sum(0)

    def backward(
        self, a: torch.Tensor, ins: Sequence[Box]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        return [s * a for s in self.scales], a.new_zeros(a.shape[:-1])

    def backward_csr(
        self, a: sp.csr_matrix, ins: Sequence[Box]
    ) -> tuple[list[sp.csr_matrix], np.ndarray] | None:
        return [(s * a).tocsr() for s in self.scales], np.zeros(a.shape[0])

    def encode(
        self, b: Builder, cols: Sequence[np.ndarray], ins: Sequence[Box], out: Box
    ) -> np.ndarray:
        n = len(cols[0])
        y = b.add_cols(out[0].numpy(), out[1].numpy())
        rng = np.arange(n)
        rows = [rng] + [rng for _ in cols]
        columns = [y, *cols]
        values = [-np.ones(n)] + [np.full(n, s) for s in self.scales]
        b.add_rows(
            np.concatenate(rows),
            np.concatenate(columns),
            np.concatenate(values),
            np.zeros(n),
            np.zeros(n),
        )  # sum_i s_i x_i - y = 0
        return y

    def affine(self, maps: Sequence[Affine], ins: Sequence[Box]) -> Affine:
        a = sum(s * m[0] for s, m in zip(self.scales, maps, strict=True))
        c = sum(s * m[1] for s, m in zip(self.scales, maps, strict=True))
        return a, c  # type: ignore[return-value]
