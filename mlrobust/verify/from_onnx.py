"""Lower an ONNX file (read with the ``onnx`` package) to the verification IR.

The graph must be a chain: every node has at most one non-constant input, the output of the
previous non-constant node. Supported ops cover the VNN-COMP 2021 MNIST/test nets: Gemm, MatMul,
Add, Sub, Mul, Div (by constants), Relu, Sigmoid, Conv, MaxPool, AveragePool, BatchNormalization,
Flatten, Reshape, Pad (zero pads), Identity, Dropout, Constant. Anything else raises
:class:`UnsupportedLayerError` naming the node.

Shapes are tracked on the whole input tensor including a leading batch dimension of 1 (some
VNN-COMP nets have none), so the IR's input size is the product of the ONNX input's dimensions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlrobust.errors import CorruptFileError, DataNotFoundError, UnsupportedLayerError
from mlrobust.verify.ir import (
    DTYPE,
    Layer,
    Linear,
    MaxPool,
    Network,
    ReLU,
    Sigmoid,
    avgpool_matrix,
    conv_matrix,
    pool_groups,
    simplify,
    sparse,
)


def from_onnx(path: str | Path) -> Network:
    """The IR of the ONNX network at ``path``."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"ONNX file not found: {path}. Pass the path of a .onnx network.")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises protobuf DecodeError and others
        raise CorruptFileError(f"{path} is not a readable ONNX model: {exc}") from exc
    graph = model.graph
    consts: dict[str, np.ndarray] = {
        t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer
    }
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise UnsupportedLayerError(
            f"{path}: expected one network input, found {[i.name for i in inputs]}."
        )
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inputs[0].type.tensor_type.shape.dim]
    shape: tuple[int, ...] = tuple(dims) or (1,)
    input_shape = shape
    current = inputs[0].name
    layers: list[Layer] = []
    for k, node in enumerate(graph.node):
        where = f"{path.name}: node #{k} {node.op_type} ({node.name or node.output[0]!r})"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"]).astype(np.float64)
            continue
        live = [i for i in node.input if i and i not in consts]
        if not live:
            raise UnsupportedLayerError(f"{where}: constant folding of this op is not supported.")
        if len(live) > 1 or live[0] != current:
            raise UnsupportedLayerError(
                f"{where}: only chain-shaped networks are supported (this node reads "
                f"{live}, the chain is at {current!r})."
            )
        layer, shape = _lower(node.op_type, list(node.input), attrs, consts, shape, where)
        if layer is not None:
            layers.append(layer)
        current = node.output[0]
    if [o.name for o in graph.output] != [current]:
        raise UnsupportedLayerError(
            f"{path}: the graph output {[o.name for o in graph.output]} is not the end of the "
            f"chain {current!r}."
        )
    return Network(simplify(layers), input_shape)


def _lower(  # noqa: C901 - one branch per op
    op: str,
    names: list[str],
    attrs: dict[str, Any],
    consts: dict[str, np.ndarray],
    shape: tuple[int, ...],
    where: str,
) -> tuple[Layer | None, tuple[int, ...]]:
    n = int(np.prod(shape))
    if op in ("Identity", "Dropout"):
        return None, shape
    if op == "Relu":
        return ReLU(), shape
    if op == "Sigmoid":
        return Sigmoid(), shape
    if op == "Flatten":
        axis = int(attrs.get("axis", 1)) % max(len(shape), 1)
        return None, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))
    if op == "Reshape":
        target = [int(v) for v in consts[names[1]]]
        target = [shape[i] if v == 0 else v for i, v in enumerate(target)]
        if -1 in target:
            rest = int(np.prod([v for v in target if v != -1]))
            target[target.index(-1)] = n // rest
        if int(np.prod(target)) != n:
            raise CorruptFileError(f"{where}: cannot reshape {shape} to {target}.")
        return None, tuple(target)
    if op == "Pad":
        pads = attrs.get("pads")
        if pads is None and len(names) > 1:
            pads = consts[names[1]]
        if pads is None or any(int(p) != 0 for p in pads):
            raise UnsupportedLayerError(f"{where}: only all-zero Pad is supported.")
        return None, shape
    if op == "Gemm":
        if int(attrs.get("transA", 0)) or names[0] in consts:
            raise UnsupportedLayerError(f"{where}: Gemm with a transposed/constant A input.")
        w = consts[names[1]]
        w = w.T if int(attrs.get("transB", 0)) else w  # now [n_in, n_out]
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        b = consts[names[2]] * beta if len(names) > 2 and names[2] else np.zeros(w.shape[1])
        _need(w.shape[0] == shape[-1] and n == shape[-1], where, shape, w.shape)
        bias = np.broadcast_to(b, (1, w.shape[1])).reshape(-1)
        return _dense(alpha * w.T, bias), (1, w.shape[1])
    if op == "MatMul":
        if names[0] not in consts:  # x @ W with x [1, n] (or [n])
            w = consts[names[1]]
            _need(
                w.ndim == 2 and shape[-1] == w.shape[0] and n == w.shape[0], where, shape, w.shape
            )
            return _dense(w.T, np.zeros(w.shape[1])), shape[:-1] + (w.shape[1],)
        w = consts[names[0]]  # W @ x with x [n] or [n, 1]
        _need(w.ndim == 2 and shape[0] == w.shape[1] and n == w.shape[1], where, shape, w.shape)
        return _dense(w, np.zeros(w.shape[0])), (w.shape[0],) + shape[1:]
    if op in ("Add", "Sub", "Mul", "Div"):
        const_first = names[0] in consts
        c = consts[names[0] if const_first else names[1]]
        try:
            cb = np.broadcast_to(c, shape).reshape(-1).astype(np.float64)
        except ValueError as exc:
            raise UnsupportedLayerError(
                f"{where}: constant {c.shape} does not broadcast to {shape}."
            ) from exc
        if np.broadcast_shapes(c.shape, shape) != tuple(shape):
            raise UnsupportedLayerError(
                f"{where}: broadcasting grows the tensor to {np.broadcast_shapes(c.shape, shape)}."
            )
        ones = np.ones(n)
        if op == "Add":
            return _diag(ones, cb), shape
        if op == "Sub":
            return (_diag(-ones, cb) if const_first else _diag(ones, -cb)), shape
        if op == "Mul":
            return _diag(cb, np.zeros(n)), shape
        if const_first or np.any(cb == 0):
            raise UnsupportedLayerError(f"{where}: only division by a non-zero constant.")
        return _diag(1.0 / cb, np.zeros(n)), shape
    if op == "BatchNormalization":
        scale_, bias_, mean_, var_ = (consts[x] for x in names[1:5])
        s = scale_ / np.sqrt(var_ + float(attrs.get("epsilon", 1e-5)))
        per = n // s.size
        return _diag(np.repeat(s, per), np.repeat(bias_ - mean_ * s, per)), shape
    if op in ("Conv", "MaxPool", "AveragePool"):
        if len(shape) != 4 or shape[0] != 1:
            raise UnsupportedLayerError(f"{where}: needs a [1, C, H, W] input, got {shape}.")
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
            raise UnsupportedLayerError(f"{where}: auto_pad={attrs['auto_pad']!r}.")
        pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
        if pads[:2] != pads[2:]:
            raise UnsupportedLayerError(f"{where}: asymmetric pads {pads}.")
        pad = (pads[0], pads[1])
        strides = _two(attrs.get("strides", [1, 1]))
        chw = (shape[1], shape[2], shape[3])
        if op == "Conv":
            weight = torch.tensor(consts[names[1]], dtype=DTYPE)
            dil = _two(attrs.get("dilations", [1, 1]))
            mat, out = conv_matrix(weight, chw, strides, pad, dil, int(attrs.get("group", 1)))
            b = consts[names[2]] if len(names) > 2 and names[2] else np.zeros(weight.shape[0])
            return Linear(mat, torch.tensor(np.repeat(b, out[1] * out[2]), dtype=DTYPE)), (1, *out)
        if int(attrs.get("ceil_mode", 0)):
            raise UnsupportedLayerError(f"{where}: ceil_mode=1.")
        kernel = _two(attrs["kernel_shape"])
        if op == "MaxPool":
            if any(int(d) != 1 for d in attrs.get("dilations", [1, 1])):
                raise UnsupportedLayerError(f"{where}: dilated MaxPool.")
            g, out = pool_groups(chw, kernel, strides, pad)
            return MaxPool(g, n), (1, *out)
        mat, out = avgpool_matrix(
            chw,
            kernel,
            strides,
            pad,
            bool(int(attrs.get("count_include_pad", 0))),
        )
        return Linear(mat, torch.zeros(mat.shape[0], dtype=DTYPE)), (1, *out)
    raise UnsupportedLayerError(
        f"{where}: op {op} is not supported by the verifier (supported: Gemm, MatMul, Add, Sub, "
        "Mul, Div, Relu, Sigmoid, Conv, MaxPool, AveragePool, BatchNormalization, Flatten, "
        "Reshape, Pad, Identity, Dropout, Constant)."
    )


def _two(values: Any) -> tuple[int, int]:
    """A 2-D attribute (kernel, strides, dilations) as a pair of ints."""
    a, b = (int(v) for v in values)
    return a, b


def _need(ok: bool, where: str, shape: tuple[int, ...], wshape: tuple[int, ...]) -> None:
    if not ok:
        raise UnsupportedLayerError(f"{where}: weight {wshape} does not fit input {shape}.")


def _dense(w: np.ndarray, b: np.ndarray) -> Linear:
    return Linear(
        torch.tensor(np.ascontiguousarray(w), dtype=DTYPE),
        torch.tensor(np.ascontiguousarray(b), dtype=DTYPE),
    )


def _diag(scale: np.ndarray, shift: np.ndarray) -> Linear:
    idx = torch.arange(scale.size)
    return Linear(
        sparse(torch.stack([idx, idx]), torch.tensor(scale), (scale.size, scale.size)),
        torch.tensor(shift, dtype=DTYPE),
    )
