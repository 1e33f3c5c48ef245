"""The model zoo: small multi-label networks built only from layers the verifier encodes
(Linear, Conv2d, BatchNorm2d, ReLU, MaxPool2d, global average pooling, residual additions,
Flatten and an optional input normalisation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mlrobust.errors import InputError


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel. The verifier folds it into the first affine layer
    (it recognises any module with ``mean`` and ``std`` buffers)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        if any(s <= 0 for s in std):
            raise InputError(f"Normalisation std must be > 0, got {std}.")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def paper000_cnn(
    input_shape: tuple[int, int, int] = (1, 28, 56),
    num_labels: int = 10,
    channels: tuple[int, int] = (8, 16),
) -> nn.Sequential:
    """Paper 000's classifier: 2 convolutions (stride 2), 1 max-pool, 1 fully connected layer.

    Stride-2 convolutions with few channels keep the ReLU count low (2,352 for the default
    28x56 input) so the MILP verifier stays tractable.
    """
    c, h, w = input_shape
    h1, w1 = _conv_out(h, 4, 2, 1), _conv_out(w, 4, 2, 1)
    h2, w2 = _conv_out(h1, 4, 2, 1), _conv_out(w1, 4, 2, 1)
    return nn.Sequential(
        nn.Conv2d(c, channels[0], 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels[0], channels[1], 4, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels[1] * (h2 // 2) * (w2 // 2), num_labels),
    )


def mlp(
    input_shape: tuple[int, int, int] = (1, 28, 56),
    num_labels: int = 10,
    hidden: tuple[int, ...] = (256, 256),
) -> nn.Sequential:
    """A fully connected net (two hidden layers of 256, like VNN-COMP's mnistfc)."""
    c, h, w = input_shape
    layers: list[nn.Module] = [nn.Flatten()]
    width = c * h * w
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, num_labels))
    return nn.Sequential(*layers)


def small_cnn(
    input_shape: tuple[int, int, int] = (1, 56, 56),
    num_labels: int = 10,
    channels: tuple[int, int] = (16, 32),
    hidden: int = 128,
) -> nn.Sequential:
    """A small CNN for 56x56 inputs (Multi-Fashion): 2 stride-2 convolutions, max-pool, 2 FC."""
    c, h, w = input_shape
    h2 = _conv_out(_conv_out(h, 4, 2, 1), 4, 2, 1)
    w2 = _conv_out(_conv_out(w, 4, 2, 1), 4, 2, 1)
    return nn.Sequential(
        nn.Conv2d(c, channels[0], 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels[0], channels[1], 4, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels[1] * (h2 // 2) * (w2 // 2), hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_labels),
    )


class ResidualBlock(nn.Module):
    """``relu(x + bn(conv(relu(bn(conv(x))))))``: a ResNet basic block (same width)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


def residual_cnn(
    input_shape: tuple[int, int, int] = (1, 28, 56),
    num_labels: int = 10,
    channels: int = 8,
    blocks: int = 2,
) -> nn.Sequential:
    """A small ResNet: two stride-2 convolutions with batch norm, ``blocks`` residual blocks,
    global average pooling and a linear head. The graph shape of real backbones, at a size the
    verifier still handles (7,056 ReLUs on 28x56 with the defaults)."""
    if not 1 <= blocks <= 8 or channels < 1:
        raise InputError(
            f"residual_cnn needs 1-8 blocks and channels >= 1, got {blocks}, {channels}."
        )
    c = input_shape[0]
    return nn.Sequential(
        nn.Conv2d(c, channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        *(ResidualBlock(channels) for _ in range(blocks)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_labels),
    )


ARCHITECTURES: dict[str, Callable[..., nn.Sequential]] = {
    "paper000_cnn": paper000_cnn,
    "mlp": mlp,
    "small_cnn": small_cnn,
    "residual_cnn": residual_cnn,
}


def build_model(
    architecture: str,
    input_shape: tuple[int, int, int],
    num_labels: int,
    normalization: tuple[list[float], list[float]] | None = None,
    **kwargs: Any,
) -> nn.Sequential:
    """Build a zoo model by name, optionally with a leading :class:`Normalize`."""
    if architecture not in ARCHITECTURES:
        raise InputError(
            f"Unknown architecture {architecture!r}; available: {', '.join(ARCHITECTURES)}."
        )
    try:
        body = ARCHITECTURES[architecture](tuple(input_shape), num_labels, **kwargs)
    except TypeError as exc:
        raise InputError(f"Bad options for {architecture}: {exc}") from exc
    if normalization is None:
        return body
    return nn.Sequential(Normalize(*normalization), *body)
