"""Training losses for partially observed labels (paper 003, eq. 2-7, and its baselines).

``observed [N, L]`` holds 1 (positive), 0 (negative) or -1 (unknown), as produced by
:func:`mlrobust.datasets.label_attacks.remove_labels`; ``logits [N, L]`` are the model's.

* ``PartialLoss.AN`` (assume negative): unknown entries count as negatives; BCE averaged over
  all ``N * L`` entries. With fully observed labels it is plain BCE.
* ``PartialLoss.WAN`` (weak assume negative): as AN, but every assumed negative is weighted by
  ``negative_weight`` (default ``1 / (L - 1)``, Mac Aodha et al. 2019); still divided by
  ``N * L``.
* ``PartialLoss.PSEUDO`` (paper 003): observed entries (part E) use their label, unknown
  entries (part N) use a pseudo-label; eq. 7:
  ``L = BCE_E + exp(n_c - n_t) * BCE_N + P`` where ``BCE_E`` / ``BCE_N`` are means over the
  batch's observed / unknown entries, ``n_c`` is the 1-based current epoch and ``n_t`` the
  number of epochs, and ``P`` penalises the trivial all-negative solution (eq. 6, see
  :func:`trivial_solution_penalty`). Pseudo-labels start at 1 and, after each epoch, become
  ``alpha S[0] + beta S[1] + gamma S[2]`` over the per-entry stack of the last three epochs'
  predicted probabilities (eq. 2-3); see :func:`update_pseudo_labels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F

from mlrobust.datasets.label_attacks import POSITIVE, UNKNOWN
from mlrobust.errors import InputError

HISTORY = 3  # paper 003: size(S_ij) = 3


class PartialLoss(str, Enum):
    AN = "an"
    WAN = "wan"
    PSEUDO = "pseudo"


@dataclass(frozen=True, kw_only=True)
class PartialLossConfig:
    """A partial-label loss and its parameters.

    ``negative_weight``: WAN's weight of an assumed negative (``None``: ``1 / (L - 1)``).
    ``history_weights``: paper 003's (alpha, beta, gamma) for the newest to oldest epoch;
    the paper fixes them by experiment without stating them, so the default is ours.
    ``penalty_weight``: factor on the trivial-solution penalty P (1 in eq. 7).
    ``initial_pseudo_label``: the value pseudo-labels and the prediction stack start from
    (1 in eq. 2). Under ``T_q`` no negative is observed, so with 1 every target is positive
    and training has no signal to rank labels by (see docs/partial_labels.md); 0 is the
    assume-negative start.
    """

    method: PartialLoss = PartialLoss.PSEUDO
    negative_weight: float | None = None
    history_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
    penalty_weight: float = 1.0
    initial_pseudo_label: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.method, PartialLoss):
            raise InputError(f"method must be a PartialLoss, got {self.method!r}.")
        if self.negative_weight is not None and not 0.0 <= self.negative_weight <= 1.0:
            raise InputError(f"negative_weight must be in [0, 1], got {self.negative_weight}.")
        w = self.history_weights
        if len(w) != HISTORY or min(w) < 0 or not math.isclose(sum(w), 1.0, abs_tol=1e-9):
            raise InputError(
                f"history_weights (alpha, beta, gamma) must be 3 non-negative numbers summing "
                f"to 1, got {w}."
            )
        if not 0.0 <= self.initial_pseudo_label <= 1.0:
            raise InputError(
                f"initial_pseudo_label must be in [0, 1], got {self.initial_pseudo_label}."
            )
        if self.penalty_weight < 0:
            raise InputError(f"penalty_weight must be >= 0, got {self.penalty_weight}.")


def _check(logits: torch.Tensor, observed: torch.Tensor) -> None:
    if logits.shape != observed.shape or logits.dim() != 2:
        raise InputError(
            f"logits {tuple(logits.shape)} and observed labels {tuple(observed.shape)} must "
            "both be [N, L] with the same shape."
        )


def an_loss(logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Assume-negative BCE: mean over all entries, unknown entries as negatives."""
    _check(logits, observed)
    return F.binary_cross_entropy_with_logits(logits, (observed == POSITIVE).to(logits.dtype))


def wan_loss(
    logits: torch.Tensor, observed: torch.Tensor, negative_weight: float | None = None
) -> torch.Tensor:
    """Weak assume-negative BCE: assumed negatives weighted by ``negative_weight``
    (default ``1 / (L - 1)``), observed entries by 1, divided by ``N * L``."""
    _check(logits, observed)
    num_labels = logits.shape[1]
    if negative_weight is None:
        negative_weight = 1.0 / max(num_labels - 1, 1)
    weights = torch.where(observed == UNKNOWN, negative_weight, 1.0).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(
        logits, (observed == POSITIVE).to(logits.dtype), weight=weights
    )


def attention_shift(epoch: int, epochs: int) -> float:
    """Eq. 5: ``exp(n_c - n_t)`` with the 1-based current epoch ``n_c`` of ``n_t``."""
    if not 1 <= epoch <= epochs:
        raise InputError(f"epoch must be in 1..{epochs} (1-based), got {epoch}.")
    return math.exp(epoch - epochs)


def trivial_solution_penalty(probs: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``P = 1 - ||p_E+ - 0||_2 / sqrt(m)``, averaged over images.

    The trivial solution predicts every label negative (all zeros). For each image the
    distance to it is taken over its ``m`` observed positive labels, the labels known to
    exist, where the trivial solution is certainly wrong; dividing by ``sqrt(m)`` keeps the
    root in [0, 1] as the paper states, so ``P`` lies in [0, 1] and is 1 at the trivial
    solution. Images with no observed positive carry no evidence against it and are skipped;
    ``P = 0`` when no image has one.
    """
    _check(probs, observed)
    positive = observed == POSITIVE
    m = positive.sum(dim=1)
    has = m > 0
    if not has.any():
        return probs.new_zeros(())
    dist = (probs.pow(2) * positive).sum(dim=1)[has].div(m[has]).sqrt()
    return (1.0 - dist).mean()


def pseudo_label_loss(
    logits: torch.Tensor,
    observed: torch.Tensor,
    pseudo: torch.Tensor,
    epoch: int,
    epochs: int,
    penalty_weight: float = 1.0,
) -> torch.Tensor:
    """Eq. 7 on one batch; ``pseudo [N, L]`` in [0, 1] is read only where ``observed == -1``."""
    _check(logits, observed)
    if pseudo.shape != logits.shape:
        raise InputError(f"pseudo-labels {tuple(pseudo.shape)} must match the logits' shape.")
    known = observed != UNKNOWN
    per_entry_known = F.binary_cross_entropy_with_logits(
        logits, observed.clamp_min(0).to(logits.dtype), reduction="none"
    )
    per_entry_pseudo = F.binary_cross_entropy_with_logits(
        logits, pseudo.to(logits.dtype), reduction="none"
    )
    zero = logits.new_zeros(())
    part_e = per_entry_known[known].mean() if known.any() else zero
    part_n = per_entry_pseudo[~known].mean() if (~known).any() else zero
    penalty = trivial_solution_penalty(torch.sigmoid(logits), observed)
    return part_e + attention_shift(epoch, epochs) * part_n + penalty_weight * penalty


def initial_history(num_samples: int, num_labels: int, value: float = 1.0) -> torch.Tensor:
    """The prediction stack ``S [3, N, L]`` before training: every entry ``value``
    (1 in eq. 2)."""
    return torch.full((HISTORY, num_samples, num_labels), float(value))


def update_pseudo_labels(
    history: torch.Tensor, predictions: torch.Tensor, weights: tuple[float, float, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Push one epoch's predicted probabilities ``[N, L]`` onto the stack ``S [3, N, L]``.

    Returns the new stack (``S[0]`` the newest epoch, ``S[2]`` the oldest) and the
    pseudo-labels ``alpha S[0] + beta S[1] + gamma S[2]`` (eq. 3). Slots not yet filled by a
    prediction still hold the initial value (1 in the paper), so early pseudo-labels lean
    towards it.
    """
    if history.dim() != 3 or history.shape[0] != HISTORY or history.shape[1:] != predictions.shape:
        raise InputError(
            f"history must be [3, N, L] matching predictions {tuple(predictions.shape)}, "
            f"got {tuple(history.shape)}."
        )
    stack = torch.cat([predictions.detach().unsqueeze(0).to(history.dtype), history[:-1]])
    w = torch.tensor(weights, dtype=history.dtype).view(HISTORY, 1, 1)
    return stack, (w * stack).sum(dim=0)


__all__ = [
    "HISTORY",
    "PartialLoss",
    "PartialLossConfig",
    "an_loss",
    "attention_shift",
    "initial_history",
    "pseudo_label_loss",
    "trivial_solution_penalty",
    "update_pseudo_labels",
    "wan_loss",
]
