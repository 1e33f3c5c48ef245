"""Lower a torch ``nn.Sequential`` to the verification IR.

Supported: Linear, Conv2d, ReLU, Sigmoid, MaxPool2d, AvgPool2d, Flatten, BatchNorm1d/2d (eval
statistics, folded into the neighbouring affine map), Identity/Dropout (no-ops in eval mode), and
any module exposing ``mean`` and ``std`` tensors (input normalisation ``(x - mean) / std``). Nested
Sequentials are flattened. Anything else raises :class:`UnsupportedLayerError` naming it.
"""

from __future__ import annotations

import torch
from torch import nn

from mlrobust.errors import InputError, UnsupportedLayerError
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


def from_torch(model: nn.Module, input_shape: tuple[int, ...]) -> Network:
    """The IR of ``model`` for inputs of one-sample shape ``input_shape`` (e.g. ``(1, 28, 28)``).

    Examples:
        >>> net = from_torch(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (1, 2, 2))
        >>> net.n_outputs
        2
    """
    if not input_shape or any(int(s) < 1 for s in input_shape):
        raise InputError(f"input_shape must be positive sizes, got {input_shape}.")
    shape: tuple[int, ...] = tuple(int(s) for s in input_shape)
    layers: list[Layer] = []
    for name, module in _leaves(model, ""):
        layer, shape = _lower(name, module, shape)
        if layer is not None:
            layers.append(layer)
    return Network(simplify(layers), tuple(int(s) for s in input_shape))


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        out: list[tuple[str, nn.Module]] = []
        for name, child in module.named_children():
            out += _leaves(child, f"{prefix}{name}.")
        return out
    return [(prefix.rstrip(".") or type(module).__name__, module)]


def _chw(shape: tuple[int, ...], what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise InputError(f"{what} needs a [C, H, W] input, but the tensor here has shape {shape}.")
    return shape[0], shape[1], shape[2]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _diag(scale: torch.Tensor, shift: torch.Tensor) -> Linear:
    n = scale.numel()
    idx = torch.arange(n)
    return Linear(sparse(torch.stack([idx, idx]), scale, (n, n)), shift.to(DTYPE))


def _lower(  # noqa: C901 - one branch per supported module type keeps the mapping readable
    name: str, m: nn.Module, shape: tuple[int, ...]
) -> tuple[Layer | None, tuple[int, ...]]:
    n = 1
    for s in shape:
        n *= s
    if isinstance(m, (nn.Flatten, nn.Identity, nn.Dropout)):
        return None, (n,) if isinstance(m, nn.Flatten) else shape
    if isinstance(m, nn.ReLU):
        return ReLU(), shape
    if isinstance(m, nn.Sigmoid):
        return Sigmoid(), shape
    if isinstance(m, nn.Linear):
        if n != m.in_features:
            raise InputError(f"Layer {name}: Linear expects {m.in_features} inputs, gets {n}.")
        linear_bias = m.bias if m.bias is not None else torch.zeros(m.out_features)
        return (
            Linear(m.weight.detach().to(DTYPE), linear_bias.detach().to(DTYPE)),
            (m.out_features,),
        )
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise UnsupportedLayerError(
                f"Layer {name}: Conv2d with padding={m.padding!r}/{m.padding_mode!r} is not "
                "supported; use integer zero padding."
            )
        chw = _chw(shape, f"Layer {name} (Conv2d)")
        w, out_shape = conv_matrix(
            m.weight.detach().to(DTYPE),
            chw,
            _pair(m.stride),
            _pair(m.padding),
            _pair(m.dilation),
            m.groups,
        )
        b = (
            m.bias.detach().to(DTYPE)
            if m.bias is not None
            else torch.zeros(m.out_channels, dtype=DTYPE)
        )
        bias = b.repeat_interleave(out_shape[1] * out_shape[2])
        return Linear(w, bias), out_shape
    if isinstance(m, nn.MaxPool2d):
        if _pair(m.dilation) != (1, 1) or m.ceil_mode:
            raise UnsupportedLayerError(f"Layer {name}: MaxPool2d with dilation/ceil_mode.")
        stride = _pair(m.stride if m.stride is not None else m.kernel_size)
        g, out_shape = pool_groups(
            _chw(shape, f"Layer {name}"), _pair(m.kernel_size), stride, _pair(m.padding)
        )
        return MaxPool(g, n), out_shape
    if isinstance(m, nn.AvgPool2d):
        if m.ceil_mode or m.divisor_override is not None:
            raise UnsupportedLayerError(f"Layer {name}: AvgPool2d with ceil_mode/divisor.")
        stride = _pair(m.stride if m.stride is not None else m.kernel_size)
        w, out_shape = avgpool_matrix(
            _chw(shape, f"Layer {name}"),
            _pair(m.kernel_size),
            stride,
            _pair(m.padding),
            bool(m.count_include_pad),
        )
        return Linear(w, torch.zeros(w.shape[0], dtype=DTYPE)), out_shape
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.running_mean is None or m.running_var is None:
            raise UnsupportedLayerError(f"Layer {name}: BatchNorm without running statistics.")
        scale = (m.weight.detach() if m.weight is not None else 1.0) / torch.sqrt(
            m.running_var + m.eps
        )
        shift = (m.bias.detach() if m.bias is not None else 0.0) - m.running_mean * scale
        per = n // scale.numel()
        return _diag(
            scale.to(DTYPE).repeat_interleave(per), shift.to(DTYPE).repeat_interleave(per)
        ), shape
    mean, std = getattr(m, "mean", None), getattr(m, "std", None)
    if isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor):
        # input normalisation (x - mean) / std, broadcast over one sample
        ones = torch.ones(shape, dtype=DTYPE)
        mean_b = (ones * mean.detach().to(DTYPE).reshape(_bshape(mean, shape))).flatten()
        std_b = (ones * std.detach().to(DTYPE).reshape(_bshape(std, shape))).flatten()
        if (std_b <= 0).any():
            raise InputError(f"Layer {name}: normalisation std must be > 0.")
        return _diag(1.0 / std_b, -mean_b / std_b), shape
    raise UnsupportedLayerError(
        f"Layer {name}: {type(m).__name__} is not supported by the verifier. Supported: Linear, "
        "Conv2d, ReLU, Sigmoid, MaxPool2d, AvgPool2d, Flatten, BatchNorm, and a normalisation "
        "module with mean/std tensors."
    )


def _bshape(t: torch.Tensor, shape: tuple[int, ...]) -> tuple[int, ...]:
    # a per-channel vector [C] broadcasts as [C, 1, 1]; anything else keeps its own shape
    if t.dim() == 1 and len(shape) == 3 and t.numel() == shape[0]:
        return (shape[0], 1, 1)
    return tuple(t.shape[-len(shape) :]) if t.dim() > len(shape) else tuple(t.shape)
