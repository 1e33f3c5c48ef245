"""Small random networks shared by the verify tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def random_mlp(sizes: list[int], seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) / np.sqrt(sizes[i]))
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=gen) * 0.1)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).double().eval()


def random_convnet(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return (
        nn.Sequential(
            nn.Conv2d(1, 2, 3, stride=1, padding=0),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * 2 * 2, 6),
            nn.ReLU(),
            nn.Linear(6, 4),
        )
        .double()
        .eval()
    )
