"""Lowering source operators to the IR, shared by the ONNX and the torch importers.

A source graph's values are either variables (:class:`Var`: an IR node and the tensor's full
shape, batch dimension of 1 included where the source has one) or constants (:class:`Const`:
numpy arrays, folded eagerly). :class:`Lowerer` offers one method per source operator family;
every affine one (Gemm, MatMul, Conv, BatchNorm, average pooling, Flatten / Reshape /
Transpose, zero or constant Pad, Mul / Div / Add / Sub by constants) becomes a sparse or dense
``Linear`` node, which the graph builder later folds into its neighbours; ReLU, Sigmoid,
MaxPool, Add / Sub of two variables and Concat become their own nodes. Anything else raises
:class:`~mlrobust.errors.UnsupportedLayerError` naming the operator and the node, in the
importer.

Flattened values are row-major, so a reshape of a variable changes only its recorded shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from mlrobust.errors import InputError, UnsupportedLayerError
from mlrobust.verify.ir import GraphBuilder, Network
from mlrobust.verify.ops import (
    DTYPE,
    Add,
    Concat,
    Linear,
    MaxPool,
    Op,
    dense,
    diagonal,
    sparse,
)


@dataclass(frozen=True)
class Var:
    """A variable tensor: IR node ``node`` holds its values (flattened, row-major)."""

    node: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Const:
    """A constant tensor (weights, shapes, folded subgraphs)."""

    value: np.ndarray


Value = Var | Const


class Lowerer:
    """Builds an IR :class:`~mlrobust.verify.ir.Network` from source operators. ``where``
    names the source node in error messages (the importer sets it before each call)."""

    def __init__(self, input_shape: Sequence[int], source_shape: Sequence[int]) -> None:
        self.g = GraphBuilder(input_shape)
        self.input = Var(0, tuple(int(s) for s in source_shape))
        if self.input.size != self.g.nodes[0].size:
            raise UnsupportedLayerError(
                f"input shape {tuple(source_shape)} does not hold {self.g.nodes[0].size} values."
            )
        self.where = "input"

    def fail(self, message: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"{self.where}: {message}")

    def build(self, out: Value) -> Network:
        if not isinstance(out, Var):
            raise self.fail("the network's output is a constant.")
        if sum(s > 1 for s in out.shape) > 1:
            raise InputError(
                f"{self.where}: the network's output has shape {out.shape}; mlrobust needs one "
                "flat vector of logits per sample (e.g. [1, C]). Flatten it or add a "
                "classification head."
            )
        return self.g.build(out.node)

    # ------------------------------------------------------------------ building blocks
    def node(self, op: Op, inputs: Sequence[Var], shape: Sequence[int]) -> Var:
        return Var(
            self.g.add(op, [v.node for v in inputs], shape, self.where),
            tuple(int(s) for s in shape),
        )

    def var(self, v: Value, shape: Sequence[int] | None = None) -> Var:
        """``v`` as a variable; a constant becomes a node ``0 x + c`` reading the input."""
        if isinstance(v, Var):
            return v
        value = np.broadcast_to(v.value, tuple(shape) if shape is not None else v.value.shape)
        c = torch.tensor(np.ascontiguousarray(value, dtype=np.float64).reshape(-1))
        empty = sparse(
            torch.zeros(2, 0, dtype=torch.long), torch.zeros(0), (c.numel(), self.g.nodes[0].size)
        )
        return self.node(Linear(empty, c), [self.input], value.shape)

    def affine(self, x: Var, lin: Linear, shape: Sequence[int]) -> Var:
        return self.node(lin, [x], shape)

    def unary(self, op: Op, x: Value) -> Var:
        v = self.var(x)
        return self.node(op, [v], v.shape)

    # ------------------------------------------------------------------ elementwise
    def broadcast(self, c: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        try:
            out_shape = np.broadcast_shapes(c.shape, shape)
        except ValueError as exc:
            raise self.fail(f"shapes {c.shape} and {shape} do not broadcast.") from exc
        if tuple(out_shape) != tuple(shape):
            raise self.fail(f"broadcasting grows the tensor {shape} to {tuple(out_shape)}.")
        return np.broadcast_to(c, shape).reshape(-1).astype(np.float64)

    def add(self, a: Value, b: Value, sign: float = 1.0) -> Value:
        """``a + sign * b`` (Add, Sub)."""
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(a.value + sign * b.value)
        if isinstance(a, Var) and isinstance(b, Var):
            if a.shape != b.shape:
                # e.g. [1, n] + [n]: the same values in the same order; anything that would
                # really broadcast (repeat values) two variables is refused, never guessed
                try:
                    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
                except ValueError:
                    shape = ()
                if not shape or math.prod(shape) != a.size or a.size != b.size:
                    raise self.fail(
                        f"adding variable tensors of shapes {a.shape} and {b.shape}: they do "
                        "not broadcast to one tensor of the same size (broadcasting two "
                        "variables is not supported)."
                    )
                a, b = Var(a.node, shape), Var(b.node, shape)
            return self.node(Add((1.0, sign)), [a, b], a.shape)
        if isinstance(a, Const):  # c + sign * x
            assert isinstance(b, Var)
            c = self.broadcast(a.value, b.shape)
            return self.affine(
                b, diagonal(torch.full((b.size,), sign, dtype=DTYPE), torch.tensor(c)), b.shape
            )
        assert isinstance(a, Var) and isinstance(b, Const)
        c = self.broadcast(b.value, a.shape)
        return self.affine(
            a, diagonal(torch.ones(a.size, dtype=DTYPE), torch.tensor(sign * c)), a.shape
        )

    def mul(self, a: Value, b: Value, divide: bool = False) -> Value:
        """``a * b`` or ``a / b``, one of them constant."""
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(a.value / b.value if divide else a.value * b.value)
        if isinstance(a, Var) and isinstance(b, Var):
            raise self.fail(
                "multiplying two variable tensors is not supported (only by constants)."
            )
        if divide and isinstance(b, Var):
            raise self.fail("dividing by a variable tensor is not supported.")
        x, c = (a, b) if isinstance(a, Var) else (b, a)
        assert isinstance(x, Var) and isinstance(c, Const)
        scale = self.broadcast(c.value, x.shape)
        if divide:
            if np.any(scale == 0):
                raise self.fail("division by a constant that is zero somewhere.")
            scale = 1.0 / scale
        return self.affine(
            x, diagonal(torch.tensor(scale), torch.zeros(x.size, dtype=DTYPE)), x.shape
        )

    # ------------------------------------------------------------------ shape
    def reshape(self, x: Value, shape: Sequence[int]) -> Value:
        """Row-major reshape (``-1`` and ``0`` as in ONNX: infer / copy)."""
        src = x.shape if isinstance(x, Var) else x.value.shape
        target = [src[i] if v == 0 and i < len(src) else int(v) for i, v in enumerate(shape)]
        n = int(np.prod(src))
        if -1 in target:
            rest = int(np.prod([v for v in target if v != -1]))
            target[target.index(-1)] = n // max(rest, 1)
        if int(np.prod(target)) != n:
            raise self.fail(f"cannot reshape {tuple(src)} to {tuple(target)}.")
        if isinstance(x, Const):
            return Const(x.value.reshape(target))
        return Var(x.node, tuple(target))

    def flatten(self, x: Value, axis: int = 1) -> Value:
        shape = x.shape if isinstance(x, Var) else x.value.shape
        axis = axis % max(len(shape), 1)
        return self.reshape(x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))

    def permute(self, x: Value, perm: Sequence[int]) -> Value:
        if isinstance(x, Const):
            return Const(np.transpose(x.value, perm))
        idx = np.arange(x.size).reshape(x.shape).transpose(perm)
        return self._gather(x, idx.reshape(-1), idx.shape)

    def _gather(self, x: Var, idx: np.ndarray, shape: Sequence[int]) -> Var:
        """``y = x[idx]`` (flat indices) as a 0/1 sparse Linear; the identity is no node."""
        if len(idx) == x.size and np.array_equal(idx, np.arange(x.size)):
            return Var(x.node, tuple(shape))
        rows = torch.arange(len(idx))
        w = sparse(
            torch.stack([rows, torch.as_tensor(idx, dtype=torch.long)]),
            torch.ones(len(idx)),
            (len(idx), x.size),
        )
        return self.affine(x, Linear(w, torch.zeros(len(idx), dtype=DTYPE)), shape)

    def pad(self, x: Value, pads: Sequence[int], value: float = 0.0) -> Value:
        """ONNX-style ``pads``: all the begins, then all the ends (one per dimension)."""
        if isinstance(x, Const):
            r = len(x.value.shape)
            return Const(
                np.pad(x.value, list(zip(pads[:r], pads[r:], strict=True)), constant_values=value)
            )
        r = len(x.shape)
        if len(pads) != 2 * r or any(int(p) < 0 for p in pads):
            raise self.fail(
                f"pads {list(pads)} do not fit a tensor of rank {r} (negative pads "
                "crop: not supported)."
            )
        widths = list(zip((int(p) for p in pads[:r]), (int(p) for p in pads[r:]), strict=True))
        idx = np.pad(np.arange(x.size).reshape(x.shape), widths, constant_values=-1)
        keep = idx.reshape(-1) >= 0
        rows = torch.as_tensor(np.flatnonzero(keep))
        cols = torch.as_tensor(idx.reshape(-1)[keep])
        w = sparse(torch.stack([rows, cols]), torch.ones(len(rows)), (idx.size, x.size))
        bias = torch.where(torch.as_tensor(keep), 0.0, float(value)).to(DTYPE)
        return self.affine(x, Linear(w, bias), idx.shape)

    def concat(self, values: Sequence[Value], axis: int) -> Value:
        if all(isinstance(v, Const) for v in values):
            return Const(np.concatenate([v.value for v in values], axis=axis))  # type: ignore[union-attr]
        ref = next(v for v in values if isinstance(v, Var))
        rank = len(ref.shape)
        axis = axis % rank
        parts = []
        for v in values:
            if isinstance(v, Const):
                parts.append(self.var(v))
            else:
                parts.append(v)
        shapes = [p.shape for p in parts]
        if any(
            len(s) != rank or s[:axis] + s[axis + 1 :] != ref.shape[:axis] + ref.shape[axis + 1 :]
            for s in shapes
        ):
            raise self.fail(f"concatenating shapes {shapes} along axis {axis}.")
        out_shape = list(ref.shape)
        out_shape[axis] = sum(s[axis] for s in shapes)
        joined = self.node(
            Concat(tuple(p.size for p in parts)), parts, (sum(p.size for p in parts),)
        )
        # the Concat node lays the inputs end to end; reorder into the true layout
        offsets = np.cumsum([0] + [p.size for p in parts])
        blocks = [
            np.arange(o, o + p.size).reshape(p.shape) for o, p in zip(offsets, parts, strict=False)
        ]
        order = np.concatenate(blocks, axis=axis).reshape(-1)
        return self._gather(joined, order, out_shape)

    # ------------------------------------------------------------------ linear algebra
    def matmul(self, a: Value, b: Value) -> Value:
        """``a @ b`` with exactly one constant operand (2-D, or a vector)."""
        if isinstance(a, Const) and isinstance(b, Const):
            return Const(a.value @ b.value)
        if isinstance(a, Var) and isinstance(b, Const):
            w = b.value
            if w.ndim != 2 or a.shape[-1] != w.shape[0] or a.size != w.shape[0]:
                raise self.fail(f"weight {w.shape} does not fit input {a.shape}.")
            return self.affine(a, dense(w.T, np.zeros(w.shape[1])), a.shape[:-1] + (w.shape[1],))
        if isinstance(a, Const) and isinstance(b, Var):
            w = a.value
            if w.ndim != 2 or b.shape[0] != w.shape[1] or b.size != w.shape[1]:
                raise self.fail(f"weight {w.shape} does not fit input {b.shape}.")
            return self.affine(b, dense(w, np.zeros(w.shape[0])), (w.shape[0],) + b.shape[1:])
        raise self.fail("multiplying two variable tensors is not supported.")

    def gemm(
        self,
        a: Value,
        w: np.ndarray,
        bias: np.ndarray | None,
        alpha: float = 1.0,
        beta: float = 1.0,
        trans_b: bool = True,
    ) -> Value:
        """``alpha * a @ W^T + beta * bias`` (``W [n_out, n_in]`` when ``trans_b``)."""
        x = self.var(a)
        wt = w if trans_b else w.T  # now [n_out, n_in]
        if x.size != wt.shape[1] or x.shape[-1] != wt.shape[1]:
            raise self.fail(f"weight {w.shape} does not fit input {x.shape}.")
        b = (
            np.zeros(wt.shape[0])
            if bias is None
            else np.broadcast_to(np.asarray(bias, dtype=np.float64) * beta, (wt.shape[0],))
        )
        return self.affine(x, dense(alpha * wt, b), x.shape[:-1] + (wt.shape[0],))

    # ------------------------------------------------------------------ images
    def _nchw(self, x: Value, what: str) -> tuple[Var, tuple[int, int, int]]:
        v = self.var(x)
        if len(v.shape) != 4 or v.shape[0] != 1:
            raise self.fail(f"{what} needs a [1, C, H, W] input, got {v.shape}.")
        return v, (v.shape[1], v.shape[2], v.shape[3])

    def conv(
        self,
        x: Value,
        weight: np.ndarray,
        bias: np.ndarray | None,
        stride: Sequence[int],
        pads: Sequence[int],
        dilation: Sequence[int],
        groups: int,
    ) -> Var:
        """2-D convolution; ``pads`` ONNX-style ``[top, left, bottom, right]``."""
        v, chw = self._nchw(x, "Conv")
        if weight.ndim != 4:
            raise self.fail(f"only 2-D convolutions are supported (weight {weight.shape}).")
        top, left, bottom, right = (int(p) for p in pads)
        if (top, left) != (bottom, right):
            v = self.pad(v, [0, 0, top, left, 0, 0, bottom, right])  # type: ignore[assignment]
            chw = (v.shape[1], v.shape[2], v.shape[3])
            top = left = 0
        w, out = conv_matrix(
            torch.as_tensor(weight, dtype=DTYPE),
            chw,
            _two(stride),
            (top, left),
            _two(dilation),
            int(groups),
        )
        b = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
        return self.affine(
            v, Linear(w, torch.tensor(np.repeat(b, out[1] * out[2]), dtype=DTYPE)), (1, *out)
        )

    def batchnorm(
        self,
        x: Value,
        scale: np.ndarray,
        bias: np.ndarray,
        mean: np.ndarray,
        var: np.ndarray,
        eps: float,
    ) -> Value:
        """Inference-mode batch normalisation over axis 1 (folded into a neighbouring
        affine node by the graph builder when there is one)."""
        v = self.var(x)
        channels = v.shape[1] if len(v.shape) > 1 else v.shape[0]
        s = np.asarray(scale, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
        shift = np.asarray(bias, np.float64) - np.asarray(mean, np.float64) * s
        if s.size != channels:
            raise self.fail(f"{s.size} statistics for {channels} channels.")
        per = v.size // channels
        return self.affine(
            v,
            diagonal(torch.tensor(np.repeat(s, per)), torch.tensor(np.repeat(shift, per))),
            v.shape,
        )

    def maxpool(
        self,
        x: Value,
        kernel: Sequence[int],
        stride: Sequence[int],
        pads: Sequence[int],
        dilation: Sequence[int] = (1, 1),
        ceil_mode: bool = False,
    ) -> Var:
        v, chw = self._nchw(x, "MaxPool")
        if any(int(d) != 1 for d in dilation) or ceil_mode:
            raise self.fail("MaxPool with dilation or ceil_mode is not supported.")
        g, out = pool_groups(chw, _two(kernel), _two(stride), _sym_pads(self, pads))
        return self.node(MaxPool(g, v.size), [v], (1, *out))

    def avgpool(
        self,
        x: Value,
        kernel: Sequence[int],
        stride: Sequence[int],
        pads: Sequence[int],
        count_include_pad: bool,
        ceil_mode: bool = False,
    ) -> Var:
        v, chw = self._nchw(x, "AveragePool")
        if ceil_mode:
            raise self.fail("AveragePool with ceil_mode is not supported.")
        w, out = avgpool_matrix(
            chw, _two(kernel), _two(stride), _sym_pads(self, pads), count_include_pad
        )
        return self.affine(v, Linear(w, torch.zeros(w.shape[0], dtype=DTYPE)), (1, *out))

    def mean(self, x: Value, dims: Sequence[int], keepdim: bool) -> Value:
        """The mean over ``dims`` (global average pooling is the mean over H and W)."""
        if isinstance(x, Const):
            return Const(x.value.mean(axis=tuple(dims), keepdims=keepdim))
        rank = len(x.shape)
        dims = sorted(int(d) % rank for d in dims)
        idx = np.arange(x.size).reshape(x.shape)
        kept = [d for d in range(rank) if d not in dims]
        moved = np.transpose(idx, kept + dims).reshape(int(np.prod([x.shape[d] for d in kept])), -1)
        n_out, per = moved.shape
        rows = torch.arange(n_out).repeat_interleave(per)
        w = sparse(
            torch.stack([rows, torch.as_tensor(moved.reshape(-1))]),
            torch.full((n_out * per,), 1.0 / per, dtype=DTYPE),
            (n_out, x.size),
        )
        shape = (
            [1 if d in dims else s for d, s in enumerate(x.shape)]
            if keepdim
            else [x.shape[d] for d in kept]
        )
        return self.affine(x, Linear(w, torch.zeros(n_out, dtype=DTYPE)), shape)


def _two(values: Sequence[int] | int) -> tuple[int, int]:
    if isinstance(values, int):
        return values, values
    vals = [int(v) for v in values]
    if len(vals) == 1:
        return vals[0], vals[0]
    return vals[0], vals[1]


def _sym_pads(low: Lowerer, pads: Sequence[int]) -> tuple[int, int]:
    p = [int(v) for v in pads] or [0, 0, 0, 0]
    if len(p) == 2:
        return p[0], p[1]
    if p[:2] != p[2:]:
        raise low.fail(f"asymmetric pads {p}.")
    return p[0], p[1]


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
        raise UnsupportedLayerError(
            f"Convolution expects {c_per_group * groups} channels, input has {c_in}."
        )
    # index+1 so that padded positions read as 0 and can be dropped
    index = torch.arange(1, c_in * h * w + 1, dtype=DTYPE).reshape(1, c_in, h, w)
    cols = (
        functional.unfold(index, (kh, kw), dilation=dilation, padding=padding, stride=stride)[0]
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
    mat = sparse(
        torch.stack([torch.cat(rows_list), torch.cat(cols_list)]),
        torch.cat(vals_list),
        (c_out * n_loc, c_in * h * w),
    )
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
