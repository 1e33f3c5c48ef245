"""Lower an ONNX file (read with the ``onnx`` package) to the verification IR.

Any DAG of the supported operators: Gemm, MatMul, Conv, BatchNormalization, Relu, Sigmoid,
MaxPool, AveragePool, GlobalAveragePool, ReduceMean, Add, Sub (of two variable tensors too:
residual connections), Mul, Div (by constants), Concat, Flatten, Reshape, Squeeze, Unsqueeze,
Transpose, Pad, Identity, Dropout, Constant, and the shape arithmetic exporters emit around a
``view`` (Shape, Gather, Cast, ConstantOfShape on constants). Anything else raises
:class:`UnsupportedLayerError` naming the operator and the node; a graph that reads a value no
earlier node produced (a cycle or a dangling input) is an error too.

Shapes are those of the whole ONNX tensors (a leading batch dimension of 1 included when the
model declares one), so the IR's input size is the product of the ONNX input's dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlrobust.errors import CorruptFileError, DataNotFoundError, UnsupportedLayerError
from mlrobust.verify.ir import Network
from mlrobust.verify.lowering import Const, Lowerer, Value, Var
from mlrobust.verify.ops import ReLU, Sigmoid

Rule = Callable[[Lowerer, list[Value], dict[str, Any]], Value]


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
    values: dict[str, Value] = {
        t.name: Const(numpy_helper.to_array(t).astype(np.float64)) for t in graph.initializer
    }
    inputs = [i for i in graph.input if i.name not in values]
    if len(inputs) != 1:
        raise UnsupportedLayerError(
            f"{path}: expected one network input, found {[i.name for i in inputs]}."
        )
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inputs[0].type.tensor_type.shape.dim]
    shape = tuple(dims) or (1,)
    low = Lowerer(shape, shape)
    values[inputs[0].name] = low.input
    for k, node in enumerate(graph.node):
        low.where = f"{path.name}: node #{k} {node.op_type} ({node.name or node.output[0]!r})"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            values[node.output[0]] = Const(numpy_helper.to_array(attrs["value"]).astype(np.float64))
            continue
        missing = [i for i in node.input if i and i not in values]
        if missing:
            raise CorruptFileError(
                f"{low.where}: reads {missing}, which no earlier node produces (a cycle or a "
                "dangling input); ONNX graphs list their nodes in topological order."
            )
        rule = RULES.get(node.op_type)
        if rule is None:
            raise UnsupportedLayerError(
                f"{low.where}: operator {node.op_type} is not supported by the verifier "
                f"(supported: {', '.join(sorted(RULES))}, Constant)."
            )
        args = [values[i] if i else Const(np.zeros(0)) for i in node.input]
        values[node.output[0]] = rule(low, args, attrs)
    outs = [o.name for o in graph.output]
    if len(outs) != 1:
        raise UnsupportedLayerError(f"{path}: expected one graph output, found {outs}.")
    if outs[0] not in values:
        raise UnsupportedLayerError(f"{path}: the graph output {outs[0]!r} is never produced.")
    low.where = f"{path.name}: output {outs[0]!r}"
    return low.build(values[outs[0]])


def _const(low: Lowerer, v: Value, what: str) -> np.ndarray:
    if not isinstance(v, Const):
        raise low.fail(f"{what} must be a constant (an initializer or Constant node).")
    return v.value


def _pads(attrs: dict[str, Any], low: Lowerer) -> list[int]:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise low.fail(f"auto_pad={attrs['auto_pad']!r} is not supported.")
    return [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]


def _gemm(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    if int(at.get("transA", 0)) or isinstance(a[0], Const):
        raise low.fail("Gemm with a transposed or constant A input is not supported.")
    w = _const(low, a[1], "Gemm's B")
    bias = a[2].value if len(a) > 2 and isinstance(a[2], Const) and a[2].value.size else None
    return low.gemm(
        a[0],
        w,
        bias,
        float(at.get("alpha", 1.0)),
        float(at.get("beta", 1.0)),
        trans_b=bool(int(at.get("transB", 0))),
    )


def _conv(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    bias = a[2].value if len(a) > 2 and isinstance(a[2], Const) and a[2].value.size else None
    return low.conv(
        a[0],
        _const(low, a[1], "Conv's weight"),
        bias,
        at.get("strides", [1, 1]),
        _pads(at, low),
        at.get("dilations", [1, 1]),
        int(at.get("group", 1)),
    )


def _batchnorm(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    scale, bias, mean, var = (_const(low, v, "BatchNormalization's statistics") for v in a[1:5])
    return low.batchnorm(a[0], scale, bias, mean, var, float(at.get("epsilon", 1e-5)))


def _pool(kind: str) -> Rule:
    def rule(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
        kernel = at["kernel_shape"]
        stride = at.get("strides", [1] * len(kernel))
        ceil = bool(int(at.get("ceil_mode", 0)))
        if kind == "max":
            return low.maxpool(
                a[0], kernel, stride, _pads(at, low), at.get("dilations", [1, 1]), ceil
            )
        return low.avgpool(
            a[0], kernel, stride, _pads(at, low), bool(int(at.get("count_include_pad", 0))), ceil
        )

    return rule


def _global_avgpool(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    return low.mean(a[0], [2, 3], keepdim=True)


def _reduce_mean(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    axes = at.get("axes")
    if axes is None and len(a) > 1:
        axes = _const(low, a[1], "ReduceMean's axes").astype(int).tolist()
    if axes is None:
        raise low.fail("ReduceMean over all axes is not supported.")
    return low.mean(a[0], axes, keepdim=bool(int(at.get("keepdims", 1))))


def _reshape(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    return low.reshape(a[0], _const(low, a[1], "Reshape's shape").astype(int).tolist())


def _squeeze(unsqueeze: bool) -> Rule:
    def rule(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
        shape = list(a[0].shape if isinstance(a[0], Var) else a[0].value.shape)
        axes = at.get("axes")
        if axes is None and len(a) > 1:
            axes = _const(low, a[1], "the axes").astype(int).tolist()
        if unsqueeze:
            for ax in sorted(int(x) % (len(shape) + 1) for x in axes or []):
                shape.insert(ax, 1)
        else:
            drop = (
                {int(x) % len(shape) for x in axes}
                if axes
                else {i for i, s in enumerate(shape) if s == 1}
            )
            shape = [s for i, s in enumerate(shape) if i not in drop]
        return low.reshape(a[0], shape)

    return rule


def _transpose(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    rank = len(a[0].shape if isinstance(a[0], Var) else a[0].value.shape)
    return low.permute(a[0], at.get("perm", list(range(rank))[::-1]))


def _pad(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    mode = at.get("mode", b"constant")
    if mode not in (b"constant", "constant"):
        raise low.fail(f"Pad mode {mode!r} is not supported (only constant padding).")
    pads = at.get("pads")
    if pads is None and len(a) > 1:
        pads = _const(low, a[1], "Pad's pads").astype(int).tolist()
    value = float(at.get("value", 0.0))
    if len(a) > 2 and isinstance(a[2], Const) and a[2].value.size:
        value = float(a[2].value.reshape(-1)[0])
    return low.pad(a[0], pads or [], value)


def _shape(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    return Const(np.array(a[0].shape if isinstance(a[0], Var) else a[0].value.shape, float))


def _gather(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    data, idx = (_const(low, v, "Gather on a variable tensor") for v in a[:2])
    return Const(np.take(data, idx.astype(int), axis=int(at.get("axis", 0))))


def _constant_of_shape(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    from onnx import numpy_helper

    fill = at.get("value")
    v = 0.0 if fill is None else float(numpy_helper.to_array(fill).reshape(-1)[0])
    return Const(np.full(_const(low, a[0], "the shape").astype(int), v))


def _identity(low: Lowerer, a: list[Value], at: dict[str, Any]) -> Value:
    return a[0]


RULES: dict[str, Rule] = {
    "Gemm": _gemm,
    "MatMul": lambda low, a, at: low.matmul(a[0], a[1]),
    "Conv": _conv,
    "BatchNormalization": _batchnorm,
    "Relu": lambda low, a, at: low.unary(ReLU(), a[0]),
    "Sigmoid": lambda low, a, at: low.unary(Sigmoid(), a[0]),
    "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"),
    "GlobalAveragePool": _global_avgpool,
    "ReduceMean": _reduce_mean,
    "Add": lambda low, a, at: low.add(a[0], a[1]),
    "Sub": lambda low, a, at: low.add(a[0], a[1], sign=-1.0),
    "Mul": lambda low, a, at: low.mul(a[0], a[1]),
    "Div": lambda low, a, at: low.mul(a[0], a[1], divide=True),
    "Concat": lambda low, a, at: low.concat(a, int(at["axis"])),
    "Flatten": lambda low, a, at: low.flatten(a[0], int(at.get("axis", 1))),
    "Reshape": _reshape,
    "Squeeze": _squeeze(False),
    "Unsqueeze": _squeeze(True),
    "Transpose": _transpose,
    "Pad": _pad,
    "Identity": _identity,
    "Dropout": _identity,
    "Cast": _identity,
    "Shape": _shape,
    "Gather": _gather,
    "ConstantOfShape": _constant_of_shape,
}
