"""Training from partially observed labels (paper 003), beside :func:`training.train`.

The loop mirrors :func:`mlrobust.training.train.train` (same optimiser, one-cycle schedule,
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
from mlrobust.training.partial_losses import (
    PartialLoss,
    PartialLossConfig,
    an_loss,
    initial_history,
    pseudo_label_loss,
    update_pseudo_labels,
    wan_loss,
)
from mlrobust.training.train import (
    ProgressFn,
    TrainConfig,
    TrainHistory,
    TrainingLoop,
)

log = logging.getLogger(__name__)


def train_partial(
    model: nn.Module,
    data: MultiLabelDataset,
    labels: PartialLabels,
    config: TrainConfig,
    loss: PartialLossConfig,
    progress: ProgressFn | None = None,
) -> TrainHistory:
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
    loop = TrainingLoop(model, len(data), config)
    observed = labels.observed
    use_pseudo = loss.method is PartialLoss.PSEUDO
    history = (
        initial_history(len(data), data.num_labels, loss.initial_pseudo_label)
        if use_pseudo
        else None
    )
    pseudo = history[0].clone() if history is not None else None
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        seen = torch.empty(len(data), data.num_labels) if use_pseudo else None
        total = 0.0
        for b, idx in enumerate(loop.batch_indices()):
            obs = observed[idx]
            batch_pseudo = pseudo[idx] if pseudo is not None else None
            # PGD attacks the loss's current targets: observed positives, pseudo-labels
            target = (obs == POSITIVE).float()
            if batch_pseudo is not None:
                target = torch.where(obs == UNKNOWN, batch_pseudo, target)
            x = loop.defend(data.x[idx], target)
            logits = model(x)
            if loss.method is PartialLoss.AN:
                value = an_loss(logits, obs)
            elif loss.method is PartialLoss.WAN:
                value = wan_loss(logits, obs, loss.negative_weight)
            else:
                assert batch_pseudo is not None and seen is not None
                value = pseudo_label_loss(
                    logits, obs, batch_pseudo, epoch + 1, config.epochs, loss.penalty_weight
                )
                # the training-time forward pass is the epoch's prediction (no extra pass)
                seen[idx] = torch.sigmoid(logits.detach())
            total += loop.step(value)
            if progress is not None:
                progress(epoch, b + 1, loop.batches, total / (b + 1))
        if history is not None and seen is not None:
            history, pseudo = update_pseudo_labels(history, seen, loss.history_weights)
        losses.append(total / loop.batches)
        log.info("epoch %d: %s loss %.4f", epoch + 1, loss.method.value, losses[-1])
    model.eval()
    seconds = time.perf_counter() - start
    return TrainHistory(tuple(losses), seconds, config.epochs * len(data) / max(seconds, 1e-9))


__all__ = ["train_partial"]
