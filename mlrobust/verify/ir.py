"""A small network IR for verification: every layer evaluates itself and knows its bounds.

Every network is lowered (from torch or ONNX) to a chain over *flattened* float64 vectors of four
immutable layer types, so bounds, MILP encodings and numerical evaluation all see one form:

* :class:`Linear` ``y = W x + b`` — Linear, Conv2d, AvgPool2d, Flatten, folded BatchNorm and input
  normalisation all become one (``W`` dense, or sparse for convolutions);
* :class:`ReLU` ``y = max(0, x)``;
* :class:`Sigmoid` (bounds and attacks only: no exact MILP encoding);
* :class:`MaxPool` ``y_o = max_{j in groups[o]} x_j`` (windows as index lists).

Shapes: a network maps ``[N, input_size]`` to ``[N, n_outputs]``; ``input_shape`` records the
shape of one sample as the source model sees it (e.g. ``(1, 28, 28)``).

Examples:
    >>> import torch
    >>> net = Network((Linear(torch.eye(2), torch.zeros(2)), ReLU()), input_shape=(2,))
    >>> net.forward(torch.tensor([[1.0, -1.0]], dtype=torch.float64)).tolist()
    [[1.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.errors import InputError

DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class Linear:
    """``y = W x + b``. Shapes: ``weight [n_out, n_in]`` (dense or sparse COO), ``bias [n_out]``."""

    weight: torch.Tensor
    bias: torch.Tensor
    _csr: list[sp.csr_matrix] = field(default_factory=list, repr=False)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``[N, n_in] -> [N, n_out]``."""
        if self.weight.is_sparse:
            return torch.sparse.mm(self.weight, x.t()).t() + self.bias
        return x @ self.weight.t() + self.bias

    def back(self, a: torch.Tensor) -> torch.Tensor:
        """``a @ W`` for coefficients ``a [R, n_out]`` -> ``[R, n_in]`` (CROWN's backward step)."""
        if self.weight.is_sparse:
            if not a.requires_grad:
                # SciPy's CSR product is ~10x faster than torch.sparse.mm on one thread here
                csr = self.csr()
                return torch.from_numpy(np.ascontiguousarray(csr.T.dot(a.numpy().T).T))
            return torch.sparse.mm(self.weight.t(), a.t()).t()
        return a @ self.weight

    def interval(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact interval image of the box ``[lo, hi]`` (shape ``[n_in]`` -> ``[n_out]``)."""
        mid, rad = (hi + lo) / 2, (hi - lo) / 2
        w_abs = self.weight.abs() if not self.weight.is_sparse else _sparse_abs(self.weight)
        c = self.forward(mid.unsqueeze(0))[0]
        r = torch.sparse.mm(w_abs, rad.unsqueeze(1))[:, 0] if w_abs.is_sparse else w_abs @ rad
        return c - r, c + r

    def csr(self) -> sp.csr_matrix:
        """The weight as a SciPy CSR matrix (cached), for MILP encodings."""
        if not self._csr:
            if self.weight.is_sparse:
                w = self.weight.coalesce()
                idx = w.indices().numpy()
                m = sp.coo_matrix((w.values().numpy(), (idx[0], idx[1])), shape=tuple(w.shape))
                self._csr.append(m.tocsr())
            else:
                self._csr.append(sp.csr_matrix(self.weight.numpy()))
        return self._csr[0]


@dataclass(frozen=True)
class ReLU:
    """``y = max(0, x)`` elementwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(0)

    def interval(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return lo.clamp_min(0), hi.clamp_min(0)


@dataclass(frozen=True)
class Sigmoid:
    """``y = 1 / (1 + exp(-x))`` elementwise (ERAN's sigmoid nets). Bounds and attacks handle
    it; the MILP cannot encode it exactly, so networks with it get incomplete verdicts."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)

    def interval(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(lo), torch.sigmoid(hi)  # monotone


@dataclass(frozen=True, eq=False)
class MaxPool:
    """``y_o = max_j x[groups[o, j]]``. Shape: ``groups [n_out, window]`` (long indices)."""

    groups: torch.Tensor
    n_in: int

    @property
    def n_out(self) -> int:
        return int(self.groups.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.groups].amax(dim=-1)

    def interval(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return lo[self.groups].amax(dim=-1), hi[self.groups].amax(dim=-1)


Layer = Linear | ReLU | Sigmoid | MaxPool


@dataclass(frozen=True, eq=False)
class Network:
    """A chain of IR layers. ``input_shape`` is one sample's shape in the source model."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: ``[N, *input_shape]`` or ``[N, input_size]`` -> ``[N, n_outputs]`` (float64)."""
        h = x.reshape(x.shape[0], -1).to(DTYPE)
        if h.shape[1] != self.input_size:
            raise InputError(
                f"Network expects {self.input_size} input values per sample "
                f"(shape {self.input_shape}), got {h.shape[1]}."
            )
        for layer in self.layers:
            h = layer.forward(h)
        return h

    @property
    def n_outputs(self) -> int:
        return self.forward(torch.zeros(1, self.input_size, dtype=DTYPE)).shape[1]


def conv_matrix(
    weight: torch.Tensor,
    in_shape: tuple[int, int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """The sparse matrix of a 2-D convolution on a flattened ``[C, H, W]`` input.

    Built from an index image passed through ``unfold``, so each output row lists exactly the
    input pixels its window reads (zero padding drops out). Returns the matrix and output shape.
    """
    c_in, h, w = in_shape
    c_out, c_per_group, kh, kw = weight.shape
    if c_per_group * groups != c_in:
        raise InputError(f"Convolution expects {c_per_group * groups} channels, input has {c_in}.")
    # index+1 so that padded positions read as 0 and can be dropped
    index = torch.arange(1, c_in * h * w + 1, dtype=DTYPE).reshape(1, c_in, h, w)
    cols = (
        torch.nn.functional.unfold(
            index, (kh, kw), dilation=dilation, padding=padding, stride=stride
        )[0]
        .round()
        .long()
    )  # [c_in*kh*kw, L]
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    n_loc = oh * ow
    out_per_group = c_out // groups
    rows_list, cols_list, vals_list = [], [], []
    for g in range(groups):
        patch = cols[g * c_per_group * kh * kw : (g + 1) * c_per_group * kh * kw]  # [K, L]
        wg = weight[g * out_per_group : (g + 1) * out_per_group].reshape(out_per_group, -1)
        for oc in range(out_per_group):
            row_base = (g * out_per_group + oc) * n_loc
            r = (row_base + torch.arange(n_loc)).unsqueeze(0).expand_as(patch)
            v = wg[oc].to(DTYPE).unsqueeze(1).expand_as(patch)
            keep = (patch > 0) & (v != 0)
            rows_list.append(r[keep])
            cols_list.append(patch[keep] - 1)
            vals_list.append(v[keep])
    rows = torch.cat(rows_list)
    colsi = torch.cat(cols_list)
    vals = torch.cat(vals_list)
    mat = sparse(torch.stack([rows, colsi]), vals, (c_out * n_loc, c_in * h * w))
    return mat, (c_out, oh, ow)


def _pool_windows(
    in_shape: tuple[int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> tuple[list[list[int]], tuple[int, int, int]]:
    """The flat input indices inside each output window of a 2-D pool (padding cells left out),
    in output order, and the output shape."""
    c, h, w = in_shape
    kh, kw = kernel
    oh = (h + 2 * padding[0] - kh) // stride[0] + 1
    ow = (w + 2 * padding[1] - kw) // stride[1] + 1
    windows = []
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                cells = []
                for di in range(kh):
                    for dj in range(kw):
                        y, x = i * stride[0] - padding[0] + di, j * stride[1] - padding[1] + dj
                        if 0 <= y < h and 0 <= x < w:
                            cells.append(ch * h * w + y * w + x)
                windows.append(cells)
    return windows, (c, oh, ow)


def pool_groups(
    in_shape: tuple[int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Window index lists of a 2-D pool: ``[C*OH*OW, kh*kw]`` (padded cells point at a real
    cell of the same window, which leaves a max unchanged), and the output shape."""
    windows, out_shape = _pool_windows(in_shape, kernel, stride, padding)
    size = kernel[0] * kernel[1]
    out = [cells + [cells[0]] * (size - len(cells)) for cells in windows]
    return torch.tensor(out, dtype=torch.long), out_shape


def avgpool_matrix(
    in_shape: tuple[int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    count_include_pad: bool = True,
) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Average pooling as a sparse linear map; returns the matrix and output shape."""
    windows, out_shape = _pool_windows(in_shape, kernel, stride, padding)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for o, cells in enumerate(windows):
        div = kernel[0] * kernel[1] if count_include_pad else len(cells)
        rows += [o] * len(cells)
        cols += cells
        vals += [1.0 / div] * len(cells)
    c, h, w = in_shape
    mat = sparse(
        torch.tensor([rows, cols]), torch.tensor(vals, dtype=DTYPE), (len(windows), c * h * w)
    )
    return mat, out_shape


def compose(first: Linear, second: Linear) -> Linear:
    """``second(first(x))`` as one Linear (sparse only when both are sparse)."""
    w = (second.csr() @ first.csr()).tocoo()
    bias = second.forward(first.bias.unsqueeze(0))[0]
    if first.weight.is_sparse and second.weight.is_sparse:
        idx = torch.tensor(np.vstack([w.row, w.col]), dtype=torch.long)
        return Linear(sparse(idx, torch.tensor(w.data, dtype=DTYPE), w.shape), bias)
    return Linear(torch.tensor(w.toarray(), dtype=DTYPE), bias)


def simplify(layers: list[Layer]) -> tuple[Layer, ...]:
    """Merge runs of consecutive Linear layers (folds normalisation and BatchNorm away)."""
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, Linear) and out and isinstance(out[-1], Linear):
            out[-1] = compose(out[-1], layer)  # type: ignore[arg-type]
        else:
            out.append(layer)
    return tuple(out)


def _sparse_abs(w: torch.Tensor) -> torch.Tensor:
    w = w.coalesce()
    return sparse(w.indices(), w.values().abs(), w.shape)


def sparse(indices: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A coalesced float64 sparse COO tensor (indices ``[2, nnz]``)."""
    return torch.sparse_coo_tensor(
        indices, values.to(DTYPE), tuple(shape), check_invariants=False
    ).coalesce()
