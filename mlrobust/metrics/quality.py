"""Clean-accuracy metrics of a multi-label classifier (pure functions, data first).

Shapes: ``pred`` and ``target`` are bool ``[N, L]``; ``scores`` are real ``[N, L]``.
"""

from __future__ import annotations

import torch

from mlrobust.errors import InputError


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 2:
        raise InputError(
            f"Predictions {tuple(pred.shape)} and targets {tuple(target.shape)} must both be "
            "[N, L] with the same shape; check the model's label count against the dataset's."
        )


def subset_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of samples whose whole predicted label set is exactly right."""
    _check(pred, target)
    return (pred.bool() == target.bool()).all(dim=1).float().mean().item()


def hamming_loss(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of (sample, label) entries predicted wrongly."""
    _check(pred, target)
    return (pred.bool() != target.bool()).float().mean().item()


def f1_scores(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(micro F1, macro F1). A label with no positives and no predictions scores F1 = 1."""
    _check(pred, target)
    p, t = pred.bool(), target.bool()
    tp = (p & t).sum(0).double()
    fp = (p & ~t).sum(0).double()
    fn = (~p & t).sum(0).double()
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = (2 * tp.sum() / micro_den).item() if micro_den > 0 else 1.0
    den = 2 * tp + fp + fn
    per_label = torch.where(den > 0, 2 * tp / den.clamp_min(1), torch.ones_like(den))
    return micro, per_label.mean().item()


def average_precision(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-label average precision ``[L]`` (NaN for labels with no positive).

    Written here (a dozen lines) rather than adding scikit-learn as a dependency; it uses the
    same step-wise definition as ``sklearn.metrics.average_precision_score``: the mean of the
    precision at the rank of each positive, ties ranked pessimistically.
    """
    _check(scores, target)
    t = target.bool()
    out = torch.full((scores.shape[1],), float("nan"), dtype=torch.float64)
    for label in range(scores.shape[1]):
        positives = int(t[:, label].sum())
        if positives == 0:
            continue
        s = scores[:, label].double()
        # rank = number of samples scoring >= this one (ties count against us)
        ranks = (s.unsqueeze(0) >= s.unsqueeze(1)).sum(1).double()
        hits = (t[:, label].unsqueeze(0) & (s.unsqueeze(0) >= s.unsqueeze(1))).sum(1).double()
        out[label] = (hits / ranks)[t[:, label]].sum() / positives
    return out


def mean_average_precision(scores: torch.Tensor, target: torch.Tensor) -> float:
    """mAP: the mean of :func:`average_precision` over labels that have a positive."""
    ap = average_precision(scores, target)
    return float("nan") if torch.isnan(ap).all() else ap[~torch.isnan(ap)].mean().item()


def quality_report(
    scores: torch.Tensor, pred: torch.Tensor, target: torch.Tensor
) -> dict[str, float]:
    """All clean metrics at once, as stored in checkpoints and reports."""
    micro, macro = f1_scores(pred, target)
    return {
        "subset_accuracy": subset_accuracy(pred, target),
        "hamming_loss": hamming_loss(pred, target),
        "micro_f1": micro,
        "macro_f1": macro,
        "mAP": mean_average_precision(scores, target),
    }
