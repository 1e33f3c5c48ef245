"""Training from partially observed labels (paper 003), beside :func:`training.train`.

The loop mirrors :func:`mlrobust.models.training.train` (same optimiser, one-cycle schedule,
shuffling and regimes) so that runs with and without missing labels are comparable; it is a
sibling rather than an option of ``train`` because the pseudo-label method needs per-sample
indices and an end-of-epoch update that plain BCE does not.
"""

from __future__ import annotations

import logging
import time

import torch
from torch import nn

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.label_attacks import POSITIVE, UNKNOWN, PartialLabels
from mlrobust.errors import InputError
from mlrobust.models.partial_losses import (
    PartialLoss,
    PartialLossConfig,
    an_loss,
    initial_history,
    pseudo_label_loss,
    update_pseudo_labels,
    wan_loss,
)
from mlrobust.models.training import (
    ProgressFn,
    Regime,
    TrainConfig,
    TrainHistory,
    black_rectangles,
    pgd_bce,
)

log = logging.getLogger(__name__)


def train_partial(model: nn.Module, data: MultiLabelDataset, labels: PartialLabels,
                  config: TrainConfig, loss: PartialLossConfig,
                  progress: ProgressFn | None = None) -> TrainHistory:
    """Train ``model`` in place on ``data.x`` with the observed labels ``labels.observed``.

    ``data.y`` is never read: only what survived the label attack reaches the loss.
    Under ``Regime.PGD`` the adversarial examples maximise BCE against the loss's current
    targets (observed positives, and pseudo-labels for unknown entries with ``PSEUDO``).
    """
    if labels.observed.shape != (len(data), data.num_labels):
        raise InputError(
            f"The observed labels have shape {tuple(labels.observed.shape)} but the dataset "
            f"has {len(data)} images and {data.num_labels} labels; attack this dataset's labels."
        )
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batches = (len(data) + config.batch_size - 1) // config.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * batches)
    step_size = config.pgd_step_size or 2.5 * config.pgd_eps / config.pgd_steps
    observed = labels.observed
    use_pseudo = loss.method is PartialLoss.PSEUDO
    history = (initial_history(len(data), data.num_labels, loss.initial_pseudo_label)
               if use_pseudo else None)
    pseudo = history[0].clone() if history is not None else None
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        order = torch.randperm(len(data), generator=generator)
        seen = torch.empty(len(data), data.num_labels) if use_pseudo else None
        total = 0.0
        for b in range(batches):
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            x, obs = data.x[idx], observed[idx]
            batch_pseudo = pseudo[idx] if pseudo is not None else None
            if config.regime is Regime.L0:
                x = black_rectangles(x, config.l0_max_side, generator)
            elif config.regime is Regime.PGD:
                target = (obs == POSITIVE).float()
                if batch_pseudo is not None:
                    target = torch.where(obs == UNKNOWN, batch_pseudo, target)
                model.eval()
                x = pgd_bce(model, x, target, config.pgd_eps, config.pgd_steps, step_size,
                            generator)
            model.train()
            logits = model(x)
            if loss.method is PartialLoss.AN:
                value = an_loss(logits, obs)
            elif loss.method is PartialLoss.WAN:
                value = wan_loss(logits, obs, loss.negative_weight)
            else:
                assert batch_pseudo is not None and seen is not None
                value = pseudo_label_loss(logits, obs, batch_pseudo, epoch + 1, config.epochs,
                                          loss.penalty_weight)
                # the training-time forward pass is the epoch's prediction (no extra pass)
                seen[idx] = torch.sigmoid(logits.detach())
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            scheduler.step()
            total += value.item()
            if progress is not None:
                progress(epoch, b + 1, batches, total / (b + 1))
        if history is not None and seen is not None:
            history, pseudo = update_pseudo_labels(history, seen, loss.history_weights)
        losses.append(total / batches)
        log.info("epoch %d: %s loss %.4f", epoch + 1, loss.method.value, losses[-1])
    model.eval()
    seconds = time.perf_counter() - start
    return TrainHistory(tuple(losses), seconds, config.epochs * len(data) / max(seconds, 1e-9))


__all__ = ["train_partial"]
