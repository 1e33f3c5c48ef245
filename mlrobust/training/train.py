"""Multi-label training with BCE under the three regimes of paper 000.

* ``Regime.NONE``: plain training.
* ``Regime.L0``: each training image gets a random black rectangle pasted on it.
* ``Regime.PGD``: adversarial training on multi-label PGD examples maximising the BCE loss
  within an l_inf ball.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import nn

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.errors import InputError
from mlrobust.metrics.quality import quality_report
from mlrobust.models.checkpoint import predict_logits
from mlrobust.rules import DecisionRule

log = logging.getLogger(__name__)

# called after every batch with (epoch, batch, batches per epoch, running loss)
ProgressFn = Callable[[int, int, int, float], None]


class Regime(str, Enum):
    NONE = "none"
    L0 = "l0"
    PGD = "pgd"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    regime: Regime = Regime.NONE
    seed: int = 0
    l0_max_side: int = 12  # the black rectangle's sides are drawn in 1..l0_max_side pixels
    pgd_eps: float = 0.05
    pgd_steps: int = 3
    pgd_step_size: float | None = None  # default 2.5 * eps / steps (Madry et al.)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise InputError("epochs and batch_size must be >= 1 and lr > 0.")
        if self.pgd_eps < 0 or self.pgd_steps < 1:
            raise InputError("pgd_eps must be >= 0 and pgd_steps >= 1.")
        if self.l0_max_side < 1:
            raise InputError("l0_max_side must be >= 1 pixel.")


@dataclass(frozen=True)
class TrainHistory:
    """Mean training loss per epoch ``[epochs]``, and wall time in seconds."""

    losses: tuple[float, ...]
    seconds: float
    images_per_second: float


def black_rectangles(x: torch.Tensor, max_side: int, generator: torch.Generator) -> torch.Tensor:
    """Paste one random black rectangle on every image of ``x [N, C, H, W]`` (the L0 defence)."""
    n, _, h, w = x.shape
    hs = torch.randint(1, min(max_side, h) + 1, (n,), generator=generator)
    ws = torch.randint(1, min(max_side, w) + 1, (n,), generator=generator)
    top = (torch.rand(n, generator=generator) * (h - hs + 1)).long()
    left = (torch.rand(n, generator=generator) * (w - ws + 1)).long()
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(-1, 1, 1))
        & (rows < (top + hs).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1))
        & (cols < (left + ws).view(-1, 1, 1))
    )
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def pgd_bce(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Multi-label PGD: maximise BCE(model(x'), y) over the l_inf ball (random start)."""
    delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    x_adv = (x + delta).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.binary_cross_entropy_with_logits(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


class TrainingLoop:
    """What every training loop shares: seeded batch order, Adam with a one-cycle schedule,
    the defence regime applied to each batch, and the optimiser step."""

    def __init__(self, model: nn.Module, n: int, config: TrainConfig) -> None:
        self.model, self.config = model, config
        self.generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        self.optimiser = torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.batches = (n + config.batch_size - 1) // config.batch_size
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimiser, max_lr=config.lr, total_steps=config.epochs * self.batches
        )
        self.step_size = config.pgd_step_size or 2.5 * config.pgd_eps / config.pgd_steps
        self.n = n

    def batch_indices(self) -> list[torch.Tensor]:
        """One epoch's batches of sample indices, in a seeded random order."""
        order = torch.randperm(self.n, generator=self.generator)
        size = self.config.batch_size
        return [order[b * size : (b + 1) * size] for b in range(self.batches)]

    def defend(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The batch the model trains on under the regime (``target``: PGD's BCE targets);
        leaves the model in train mode."""
        cfg = self.config
        if cfg.regime is Regime.L0:
            x = black_rectangles(x, cfg.l0_max_side, self.generator)
        elif cfg.regime is Regime.PGD:
            self.model.eval()  # attack the model as it predicts
            x = pgd_bce(
                self.model, x, target, cfg.pgd_eps, cfg.pgd_steps, self.step_size, self.generator
            )
        self.model.train()
        return x

    def step(self, loss: torch.Tensor) -> float:
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()
        self.scheduler.step()
        return loss.item()


def train(
    model: nn.Module,
    data: MultiLabelDataset,
    config: TrainConfig,
    progress: ProgressFn | None = None,
) -> TrainHistory:
    """Train ``model`` in place on ``data`` with BCE under ``config.regime``."""
    loop = TrainingLoop(model, len(data), config)
    y_all = data.y.float()
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        total = 0.0
        for b, idx in enumerate(loop.batch_indices()):
            y = y_all[idx]
            x = loop.defend(data.x[idx], y)
            total += loop.step(F.binary_cross_entropy_with_logits(model(x), y))
            if progress is not None:
                progress(epoch, b + 1, loop.batches, total / (b + 1))
        losses.append(total / loop.batches)
        log.info("epoch %d: loss %.4f", epoch + 1, losses[-1])
    model.eval()
    seconds = time.perf_counter() - start
    return TrainHistory(tuple(losses), seconds, config.epochs * len(data) / max(seconds, 1e-9))


def clean_metrics(
    model: nn.Module, data: MultiLabelDataset, rule: DecisionRule
) -> dict[str, float]:
    """Subset accuracy, hamming loss, micro/macro F1 and mAP of ``model`` on ``data``."""
    logits = predict_logits(model, data.x)
    if logits.shape[1] != data.num_labels:
        raise InputError(
            f"The model predicts {logits.shape[1]} labels but the dataset has "
            f"{data.num_labels}; use a model trained on this dataset's labels."
        )
    return quality_report(logits, rule.predict(logits), data.y)


__all__ = [
    "Regime",
    "TrainConfig",
    "TrainHistory",
    "TrainingLoop",
    "black_rectangles",
    "clean_metrics",
    "pgd_bce",
    "train",
]
