"""Factories a user would write in their own package (``--model tests.evaluate.user_nets:NAME``):
graph-shaped torch models that are not ``nn.Sequential``, for the tiny 1x4x4 / 4-label data."""

from __future__ import annotations

import torch
from torch import nn


class TinyResidual(nn.Module):
    """conv -> BN -> ReLU, a residual block (x + conv(relu(conv x))), global average pool,
    linear: the shape of every real backbone, small enough for the MILP."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 3, padding=1)
        self.head = nn.Linear(2, 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.bn(self.stem(x)))
        h = self.act(h + self.b(self.act(self.a(h))))
        return self.head(h.mean(dim=(2, 3)))


def residual() -> nn.Module:
    torch.manual_seed(0)
    model = TinyResidual()
    model.bn.running_mean.uniform_(-0.2, 0.2)
    model.bn.running_var.uniform_(0.5, 1.5)
    return model


class GeluSkip(nn.Module):
    """A GELU hidden layer beside a linear skip path."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(16, 8)
        self.out = nn.Linear(8, 4)
        self.skip = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return self.out(nn.functional.gelu(self.hidden(flat))) + self.skip(flat)


def with_gelu() -> nn.Module:
    """GELU is outside the verifier's operators: attacked only."""
    torch.manual_seed(0)
    return GeluSkip()


def not_a_model() -> int:
    return 3
