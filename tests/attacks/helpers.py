"""Tiny models with known answers for the attack tests."""

from __future__ import annotations

import torch
from torch import nn


def linear_model(weight: torch.Tensor, bias: torch.Tensor) -> nn.Sequential:
    """logits = weight @ flatten(x) + bias; weight ``[L, d]``."""
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return nn.Sequential(nn.Flatten(), layer)


def tiny_cnn(num_labels: int = 5, seed: int = 0) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, num_labels),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return model


def two_label_linear() -> tuple[nn.Sequential, torch.Tensor]:
    """Two labels on a 1x2x2 image at 0.5: label 0 on (logit 0.4), label 1 off (logit -0.4).

    ||w_0||_1 = 4, so flipping label 0 needs exactly l_inf = 0.4 / 4 = 0.1.
    """
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0]])
    b = torch.tensor([-1.6, -0.4])
    x = torch.full((1, 1, 2, 2), 0.5)
    return linear_model(w, b), x
