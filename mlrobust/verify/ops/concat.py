"""``y = [x_1, x_2, ...]``: concatenation of flattened inputs (a channel concatenation of
``[C_i, H, W]`` tensors is exactly this in the flattened, channel-major layout)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.verify.ops.base import Affine, Box, Builder, Op


@dataclass(frozen=True)
class Concat(Op):
    """``y = cat(x_1, ..., x_k)`` along the flattened features; ``sizes[i]`` = input i's."""

    sizes: tuple[int, ...]

    arity = None

    def out_size(self, in_sizes: Sequence[int]) -> int:
        return sum(in_sizes)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(xs), dim=1)

    def interval(self, ins: Sequence[Box]) -> Box:
        return torch.cat([lo for lo, _ in ins]), torch.cat([hi for _, hi in ins])

    def backward(
        self, a: torch.Tensor, ins: Sequence[Box]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        return list(torch.split(a, list(self.sizes), dim=-1)), a.new_zeros(a.shape[:-1])

    def backward_csr(
        self, a: sp.csr_matrix, ins: Sequence[Box]
    ) -> tuple[list[sp.csr_matrix], np.ndarray] | None:
        ends = np.cumsum(self.sizes)
        return [a[:, e - n : e] for n, e in zip(self.sizes, ends, strict=True)], np.zeros(
            a.shape[0]
        )

    def encode(
        self, b: Builder, cols: Sequence[np.ndarray], ins: Sequence[Box], out: Box
    ) -> np.ndarray:
        return np.concatenate(list(cols))  # no new variables: the inputs' columns, in order

    def affine(self, maps: Sequence[Affine], ins: Sequence[Box]) -> Affine:
        return torch.cat([m[0] for m in maps]), torch.cat([m[1] for m in maps])
