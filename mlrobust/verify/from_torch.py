"""Lower any torch ``nn.Module`` to the verification IR, through ``torch.export``.

``torch.export`` traces the module on an example input into a graph of ATen operators (Python
control flow resolved for that input's shape); each one is lowered like its ONNX counterpart
(:mod:`mlrobust.verify.lowering`): conv2d, linear, matmul, batch_norm (inference statistics),
relu, sigmoid, max_pool2d, avg_pool2d, adaptive_avg_pool2d to 1x1, mean, add / sub (of two
variable tensors too: residual connections), mul / div by constants, neg, cat, flatten, view /
reshape, permute / transpose, constant padding, and the no-ops of eval mode (dropout, clone,
contiguous copies, detach). Anything else raises :class:`UnsupportedLayerError` naming the
operator and the node. A program saved with ``torch.export.save`` (``.pt2``) is lowered the same
way (:func:`from_exported`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mlrobust.errors import InputError, UnsupportedLayerError
from mlrobust.verify.ir import Network
from mlrobust.verify.lowering import Const, Lowerer, Value, Var
from mlrobust.verify.ops import ReLU, Sigmoid

log = logging.getLogger(__name__)

Rule = Callable[[Lowerer, list[Any]], Value]


def from_torch(model: nn.Module, input_shape: tuple[int, ...]) -> Network:
    """The IR of ``model`` for inputs of one-sample shape ``input_shape`` (e.g. ``(1, 28, 28)``).

    Examples:
        >>> net = from_torch(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (1, 2, 2))
        >>> net.n_outputs
        2
    """
    if not input_shape or any(int(s) < 1 for s in input_shape):
        raise InputError(f"input_shape must be positive sizes, got {input_shape}.")
    shape = tuple(int(s) for s in input_shape)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    example = torch.zeros(1, *shape, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    except Exception as exc:  # the model itself rejects the shape: the caller's input is wrong
        model.train(was_training)
        raise InputError(
            f"{type(model).__name__} cannot run on one sample of shape {shape}: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from exc
    try:
        program = torch.export.export(model, (example,))
    except Exception as exc:  # export raises many types (unsupported Python, control flow...)
        raise UnsupportedLayerError(
            f"torch.export could not trace {type(model).__name__} on an input of shape "
            f"{(1, *shape)}: {str(exc).splitlines()[0][:300]}"
        ) from exc
    finally:
        model.train(was_training)
    return from_exported(program, shape)


def from_exported(program: Any, input_shape: tuple[int, ...]) -> Network:
    """The IR of an exported program (``torch.export``) whose one user input is a batch of
    one ``input_shape`` sample."""
    sig = program.graph_signature
    consts: dict[str, torch.Tensor] = {}
    for name, target in {**sig.inputs_to_parameters, **sig.inputs_to_buffers}.items():
        consts[name] = program.state_dict[target]
    for name, target in getattr(sig, "inputs_to_lifted_tensor_constants", {}).items():
        consts[name] = program.constants[target]
    users = [n for n in program.graph.nodes if n.op == "placeholder" and n.name not in consts]
    if len(users) != 1:
        raise UnsupportedLayerError(
            f"the exported program takes {len(users)} tensor inputs "
            f"({[n.name for n in users]}); a classifier takes one image batch."
        )
    low = Lowerer(input_shape, (1, *input_shape))
    values: dict[str, Any] = {users[0].name: low.input}
    for name, t in consts.items():
        values[name] = Const(t.detach().double().numpy())
    out: Any = None
    for node in program.graph.nodes:
        if node.op == "placeholder":
            continue
        low.where = _where(node)
        if node.op == "output":
            out = _arg(node.args[0], values)
            break
        if node.op != "call_function":
            raise low.fail(f"{node.op} nodes are not supported.")
        key = _key(node.target)
        rule = RULES.get(key)
        if rule is None:
            raise UnsupportedLayerError(
                f"{low.where}: operator {key.split('.')[0]} is not supported by the verifier "
                f"(supported: {', '.join(sorted({k.split('.')[0] for k in RULES}))})."
            )
        args = [_arg(a, values) for a in node.args]
        kwargs = {k: _arg(v, values) for k, v in node.kwargs.items()}
        values[node.name] = rule(low, [*args, kwargs])
    if isinstance(out, (list, tuple)):
        if len(out) != 1:
            raise UnsupportedLayerError(
                f"the model returns {len(out)} outputs; a classifier returns one logit tensor."
            )
        out = out[0]
    low.where = "output"
    return low.build(out)


def _where(node: Any) -> str:
    """The node, and the module it came from (``nn_module_stack``: path and class)."""
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path, kind = list(stack.values())[-1]
        kind = getattr(kind, "__name__", str(kind)).rsplit(".", 1)[-1]
        return f"node {node.name} in module {path or '(root)'!r} ({kind})"
    return f"node {node.name}"


def _key(target: Any) -> str:
    name = str(target)
    return name.removeprefix("aten.")


def _arg(a: Any, values: dict[str, Any]) -> Any:
    if isinstance(a, torch.fx.Node):
        return values[a.name]
    if isinstance(a, (list, tuple)):
        return type(a)(_arg(x, values) for x in a)
    return a


def _const(low: Lowerer, v: Any, what: str) -> np.ndarray | None:
    if v is None:
        return None
    if not isinstance(v, Const):
        raise low.fail(f"{what} must be a parameter or a constant, not computed from the input.")
    return v.value


def _scalar(v: Any) -> Value:
    return v if isinstance(v, (Var, Const)) else Const(np.asarray(float(v)))


def _conv(low: Lowerer, a: list[Any]) -> Value:
    x, w, b, *rest = [*a[:-1], None, None, None, None, None][:7]
    stride = rest[0] if rest[0] is not None else [1, 1]
    padding = rest[1] if rest[1] is not None else [0, 0]
    dilation = rest[2] if rest[2] is not None else [1, 1]
    groups = rest[3] if rest[3] is not None else 1
    if isinstance(padding, str):
        raise low.fail(f"padding={padding!r} is not supported; use integer padding.")
    ph, pw = (padding, padding) if isinstance(padding, int) else (padding[0], padding[-1])
    weight = _const(low, w, "the convolution weight")
    assert weight is not None
    return low.conv(
        x,
        weight,
        _const(low, b, "the bias"),
        _ints(stride),
        [ph, pw, ph, pw],
        _ints(dilation),
        int(groups),
    )


def _ints(v: Any) -> list[int]:
    return [int(v)] * 2 if isinstance(v, int) else [int(x) for x in v]


def _linear(low: Lowerer, a: list[Any]) -> Value:
    x, w = a[0], _const(low, a[1], "the linear weight")
    b = _const(low, a[2], "the bias") if len(a) > 3 else None
    assert w is not None
    return low.gemm(x, w, b)


def _batch_norm(low: Lowerer, a: list[Any]) -> Value:
    x, w, b, mean, var = a[:5]
    eps = float(a[7]) if len(a) > 8 else 1e-5
    mean_v, var_v = _const(low, mean, "running_mean"), _const(low, var, "running_var")
    if mean_v is None or var_v is None:
        raise low.fail("batch norm without running statistics (track_running_stats=False).")
    c = mean_v.size
    w_v = np.ones(c) if w is None else _const(low, w, "the batch-norm weight")
    b_v = np.zeros(c) if b is None else _const(low, b, "the batch-norm bias")
    return low.batchnorm(x, w_v, b_v, mean_v, var_v, eps)  # type: ignore[arg-type]


def _max_pool(low: Lowerer, a: list[Any]) -> Value:
    x, kernel, *rest = a[:-1]
    stride = rest[0] if len(rest) > 0 and rest[0] else kernel
    padding = _ints(rest[1]) if len(rest) > 1 else [0, 0]
    dilation = rest[2] if len(rest) > 2 else [1, 1]
    ceil = bool(rest[3]) if len(rest) > 3 else False
    return low.maxpool(x, _ints(kernel), _ints(stride), padding + padding, _ints(dilation), ceil)


def _avg_pool(low: Lowerer, a: list[Any]) -> Value:
    x, kernel, *rest = a[:-1]
    stride = rest[0] if len(rest) > 0 and rest[0] else kernel
    padding = _ints(rest[1]) if len(rest) > 1 else [0, 0]
    ceil = bool(rest[2]) if len(rest) > 2 else False
    include = bool(rest[3]) if len(rest) > 3 else True
    if len(rest) > 4 and rest[4] is not None:
        raise low.fail("avg_pool2d with divisor_override is not supported.")
    return low.avgpool(x, _ints(kernel), _ints(stride), padding + padding, include, ceil)


def _adaptive_avg(low: Lowerer, a: list[Any]) -> Value:
    x, size = a[0], _ints(a[1])
    if size != [1, 1]:
        raise low.fail(f"adaptive average pooling to {size} (only to 1x1) is not supported.")
    return low.mean(x, [2, 3], keepdim=True)


def _mean(low: Lowerer, a: list[Any]) -> Value:
    x, dims = a[0], a[1]
    keep = bool(a[2]) if len(a) > 3 else bool(a[-1].get("keepdim", False))
    return low.mean(x, _ints(dims) if not isinstance(dims, int) else [dims], keep)


def _add(sign: float) -> Rule:
    def rule(low: Lowerer, a: list[Any]) -> Value:
        alpha = a[2] if len(a) > 3 else a[-1].get("alpha", 1)
        other = _scalar(a[1])
        if alpha != 1:
            other = low.mul(other, Const(np.asarray(float(alpha))))
        return low.add(_scalar(a[0]), other, sign)

    return rule


def _flatten(low: Lowerer, a: list[Any]) -> Value:
    x = a[0]
    start = int(a[1]) if len(a) > 2 else 0
    end = int(a[2]) if len(a) > 3 else -1
    shape = list(x.shape if isinstance(x, Var) else x.value.shape)
    end = end % len(shape)
    new = shape[:start] + [int(np.prod(shape[start : end + 1]))] + shape[end + 1 :]
    return low.reshape(x, new)


def _permute(low: Lowerer, a: list[Any]) -> Value:
    return low.permute(a[0], [int(d) for d in a[1]])


def _transpose(low: Lowerer, a: list[Any]) -> Value:
    x = a[0]
    rank = len(x.shape if isinstance(x, Var) else x.value.shape)
    perm = list(range(rank))
    d0, d1 = int(a[1]) % rank, int(a[2]) % rank
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return low.permute(x, perm)


def _pad(low: Lowerer, a: list[Any]) -> Value:
    """torch pads (last dimension first, begin/end pairs) to ONNX order. Covers
    ``constant_pad_nd(x, pad, value)`` and ``pad(x, pad, mode, value)``."""
    x, pads = a[0], [int(p) for p in a[1]]
    rest, kw = a[2:-1], a[-1]
    if rest and isinstance(rest[0], str):
        mode, value = rest[0], rest[1] if len(rest) > 1 else kw.get("value")
    else:
        mode, value = kw.get("mode", "constant"), rest[0] if rest else kw.get("value")
    if mode != "constant":
        raise low.fail(f"padding mode {mode!r} is not supported (only constant).")
    rank = len(x.shape if isinstance(x, Var) else x.value.shape)
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pads) // 2):
        begins[rank - 1 - i], ends[rank - 1 - i] = pads[2 * i], pads[2 * i + 1]
    return low.pad(x, begins + ends, float(value or 0.0))


def _same(low: Lowerer, a: list[Any]) -> Value:
    return a[0]


def _cat(low: Lowerer, a: list[Any]) -> Value:
    dim = a[1] if len(a) > 2 else a[-1].get("dim", 0)
    return low.concat(list(a[0]), int(dim))


def _view(low: Lowerer, a: list[Any]) -> Value:
    return low.reshape(a[0], [int(s) for s in a[1]])


def _matmul(low: Lowerer, a: list[Any]) -> Value:
    return low.matmul(_scalar(a[0]), _scalar(a[1]))


RULES: dict[str, Rule] = {
    "conv2d.default": _conv,
    "linear.default": _linear,
    "matmul.default": _matmul,
    "mm.default": _matmul,
    "batch_norm.default": _batch_norm,
    "relu.default": lambda low, a: low.unary(ReLU(), a[0]),
    "relu_.default": lambda low, a: low.unary(ReLU(), a[0]),
    "sigmoid.default": lambda low, a: low.unary(Sigmoid(), a[0]),
    "max_pool2d.default": _max_pool,
    "avg_pool2d.default": _avg_pool,
    "adaptive_avg_pool2d.default": _adaptive_avg,
    "mean.dim": _mean,
    "add.Tensor": _add(1.0),
    "add_.Tensor": _add(1.0),
    "sub.Tensor": _add(-1.0),
    "mul.Tensor": lambda low, a: low.mul(_scalar(a[0]), _scalar(a[1])),
    "div.Tensor": lambda low, a: low.mul(_scalar(a[0]), _scalar(a[1]), divide=True),
    "neg.default": lambda low, a: low.mul(_scalar(a[0]), Const(np.asarray(-1.0))),
    "cat.default": _cat,
    "flatten.using_ints": _flatten,
    "view.default": _view,
    "reshape.default": _view,
    "_unsafe_view.default": _view,
    "permute.default": _permute,
    "transpose.int": _transpose,
    "t.default": lambda low, a: _transpose(low, [a[0], 0, 1, {}]),
    "constant_pad_nd.default": _pad,
    "pad.default": _pad,
    "dropout.default": _same,
    "feature_dropout.default": _same,
    "clone.default": _same,
    "contiguous.default": _same,
    "detach.default": _same,
    "alias.default": _same,
    "lift_fresh_copy.default": _same,
}


def lowered_ops() -> Sequence[str]:
    """The ATen operators :func:`from_torch` lowers (for error messages and docs)."""
    return sorted(RULES)
