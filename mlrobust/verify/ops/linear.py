"""``y = W x + b``: every affine source operator (Gemm, MatMul, Conv, BatchNorm, average
pooling, Flatten / Reshape / Transpose, zero Pad, Mul / Div / Add / Sub by constants, input
normalisation) is lowered to one, and runs of them are merged into one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.verify.ops.base import DTYPE, Affine, Box, Builder, Op


@dataclass(frozen=True, eq=False)
class Linear(Op):
    """``y = W x + b``. Shapes: ``weight [n_out, n_in]`` (dense or sparse COO), ``bias
    [n_out]``."""

    weight: torch.Tensor
    bias: torch.Tensor
    _csr: list[sp.csr_matrix] = field(default_factory=list, repr=False)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    def out_size(self, in_sizes: Sequence[int]) -> int:
        return self.n_out

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = xs[0]
        if self.weight.is_sparse:
            return _SparseProduct.apply(x, self.csr(), self.csr_t()) + self.bias
        return x @ self.weight.t() + self.bias

    def back(self, a: torch.Tensor) -> torch.Tensor:
        """``a @ W`` for coefficients ``a [R, n_out]`` -> ``[R, n_in]``."""
        if self.weight.is_sparse:
            return _SparseProduct.apply(a, self.csr_t(), self.csr())
        return a @ self.weight

    def backward(
        self, a: torch.Tensor, ins: Sequence[Box]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        lead = a.shape[:-1]
        flat = a.reshape(-1, self.n_out)
        return [self.back(flat).reshape(*lead, self.n_in)], a @ self.bias.to(a.dtype)

    def backward_csr(
        self, a: sp.csr_matrix, ins: Sequence[Box]
    ) -> tuple[list[sp.csr_matrix], np.ndarray] | None:
        if not self.weight.is_sparse:
            return None  # a dense weight fills every row: the dense path is faster
        return [(a @ self.csr()).tocsr()], a @ self.bias.numpy()

    def interval(self, ins: Sequence[Box]) -> Box:
        lo, hi = ins[0]
        mid, rad = (hi + lo) / 2, (hi - lo) / 2
        c = self.forward([mid.unsqueeze(0)])[0]
        if self.weight.is_sparse:
            r = torch.from_numpy(abs(self.csr()).dot(rad.numpy())).to(rad.dtype)
        else:
            r = self.weight.abs() @ rad
        return c - r, c + r

    def csr(self) -> sp.csr_matrix:
        """The weight as a SciPy CSR matrix (cached), for encodings and sparse products."""
        if not self._csr:
            if self.weight.is_sparse:
                w = self.weight.coalesce()
                idx = w.indices().numpy()
                m = sp.coo_matrix((w.values().numpy(), (idx[0], idx[1])), shape=tuple(w.shape))
                self._csr.append(m.tocsr())
            else:
                self._csr.append(sp.csr_matrix(self.weight.numpy()))
        return self._csr[0]

    def csr_t(self) -> sp.csr_matrix:
        """``W.T`` stored as its own CSR matrix (cached): SciPy's product with a transposed view
        (CSC) scatters into the output and was 3.5x slower in the backward passes."""
        if len(self._csr) < 2:
            self._csr.append(self.csr().T.tocsr())
        return self._csr[1]

    def encode(
        self, b: Builder, cols: Sequence[np.ndarray], ins: Sequence[Box], out: Box
    ) -> np.ndarray:
        x = cols[0]
        z = b.add_cols(out[0].numpy(), out[1].numpy())
        w = self.csr().tocoo()
        n = self.n_out
        r = np.concatenate([w.row, np.arange(n)])
        c = np.concatenate([x[w.col], z])
        v = np.concatenate([w.data, -np.ones(n)])
        bias = self.bias.numpy()
        b.add_rows(r, c, v, -bias, -bias)  # W x - z = -b
        return z

    def affine(self, maps: Sequence[Affine], ins: Sequence[Box]) -> Affine:
        a_map, c_map = maps[0]
        w = self.weight.to_dense() if self.weight.is_sparse else self.weight
        return w @ a_map, w @ c_map + self.bias

    def to(self, dtype: torch.dtype) -> Linear:
        """The same map with its weights in ``dtype`` (branch and bound's float32 search)."""
        return Linear(self.weight.to(dtype), self.bias.to(dtype))


class _SparseProduct(torch.autograd.Function):
    """``a @ M.T`` for ``a [R, n]`` and a SciPy sparse ``m`` (``[m, n]``), differentiable in
    ``a`` (the gradient is ``g @ M``). Written by hand because SciPy's single-threaded sparse
    product is 5-7x faster than ``torch.sparse.mm`` on the CPU (measured on resnet_2b's
    convolutions: 0.16 s against 1.06 s for 2048 rows), and alpha-CROWN, branch and bound and
    the attacks differentiate through every convolution."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, m: sp.spmatrix, mt: sp.spmatrix) -> torch.Tensor:
        ctx.mt = mt
        return _times(m, a)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return _times(ctx.mt, g), None, None


def _times(m: sp.spmatrix, a: torch.Tensor) -> torch.Tensor:
    """``a @ M.T`` with SciPy, in ``a``'s dtype."""
    out = m.dot(a.detach().numpy().T).T
    dtype = np.float32 if a.dtype == torch.float32 else np.float64
    return torch.from_numpy(np.ascontiguousarray(out, dtype=dtype))


def compose(first: Linear, second: Linear) -> Linear:
    """``second(first(x))`` as one Linear (sparse only when both are sparse)."""
    w = (second.csr() @ first.csr()).tocoo()
    bias = second.forward([first.bias.unsqueeze(0)])[0]
    if first.weight.is_sparse and second.weight.is_sparse:
        idx = torch.tensor(np.vstack([w.row, w.col]), dtype=torch.long)
        return Linear(sparse(idx, torch.tensor(w.data, dtype=DTYPE), w.shape), bias)
    return Linear(torch.tensor(w.toarray(), dtype=DTYPE), bias)


def sparse(indices: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A coalesced float64 sparse COO tensor (indices ``[2, nnz]``)."""
    return torch.sparse_coo_tensor(
        indices, values.to(DTYPE), tuple(shape), check_invariants=False
    ).coalesce()


def diagonal(scale: torch.Tensor, shift: torch.Tensor) -> Linear:
    """``y = scale * x + shift`` elementwise, as a sparse Linear."""
    n = scale.numel()
    idx = torch.arange(n)
    return Linear(
        sparse(torch.stack([idx, idx]), scale.reshape(-1), (n, n)), shift.reshape(-1).to(DTYPE)
    )


def dense(w: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> Linear:
    """A dense Linear from ``W [n_out, n_in]`` and ``b [n_out]``."""
    return Linear(
        torch.tensor(np.array(w, dtype=np.float64)), torch.tensor(np.array(b, dtype=np.float64))
    )
