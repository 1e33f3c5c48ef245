"""Label-removal attacks on a training label matrix (paper 003, section III-A).

An attack turns fully observed multi-hot labels ``y [N, L]`` into *observed* labels with three
values: ``1`` positive, ``0`` negative, ``-1`` unknown (removed). Three attack models:

* ``Removal.TARGETED`` (``T_q``): every negative and a fraction ``q`` of the positives become
  unknown; the paper reports the removed share as ``q_hat = (t_n + q * t_p) / t``.
* ``Removal.RANDOM`` (``R_q``): a fraction ``q`` of all entries become unknown, sign ignored.
* ``Removal.SINGLE`` (``T_s``): one positive per image is kept, everything else is unknown.

Fractions are exact over the whole matrix: ``round(q * t_p)`` positives (``T_q``) or
``round(q * t)`` entries (``R_q``) are drawn without replacement, so the removed share is the
stated one up to one entry rather than only in expectation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch

from mlrobust.errors import InputError

POSITIVE, NEGATIVE, UNKNOWN = 1, 0, -1


class Removal(str, Enum):
    TARGETED = "targeted"
    RANDOM = "random"
    SINGLE = "single"


@dataclass(frozen=True, kw_only=True)
class LabelAttack:
    """One label-removal attack model; ``q`` is unused (and must be 0) for ``SINGLE``."""

    removal: Removal
    q: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.removal, Removal):
            raise InputError(f"removal must be a Removal, got {self.removal!r}.")
        if self.removal is Removal.SINGLE:
            if self.q != 0.0:
                raise InputError("The single-positive attack T_s takes no q; leave q at 0.")
        elif not 0.0 <= self.q <= 1.0:
            raise InputError(f"q must be in [0, 1], got {self.q}.")

    @property
    def name(self) -> str:
        """Paper 003's short name: ``T_s``, ``T_0.4``, ``R_0.2``."""
        if self.removal is Removal.SINGLE:
            return "T_s"
        return f"{'T' if self.removal is Removal.TARGETED else 'R'}_{self.q:g}"


@dataclass(frozen=True)
class PartialLabels:
    """Observed labels after an attack.

    Shapes:
        observed: ``[N, L]`` int8 with values 1 (positive), 0 (negative), -1 (unknown).
        truth: ``[N, L]`` bool, the labels before the attack (for evaluation only).
    """

    observed: torch.Tensor
    truth: torch.Tensor
    attack: LabelAttack | None

    def __post_init__(self) -> None:
        if self.observed.shape != self.truth.shape or self.observed.dim() != 2:
            raise InputError(
                f"observed {tuple(self.observed.shape)} and truth {tuple(self.truth.shape)} "
                "must both be [N, L] with the same shape."
            )
        bad = ~(
            (self.observed == POSITIVE) | (self.observed == NEGATIVE) | (self.observed == UNKNOWN)
        )
        if bad.any():
            raise InputError("observed labels must be 1 (positive), 0 (negative) or -1 (unknown).")
        known = self.observed != UNKNOWN
        if (self.observed[known].bool() != self.truth[known]).any():
            raise InputError("An observed label contradicts the truth; removal never flips labels.")

    @property
    def known(self) -> torch.Tensor:
        """``[N, L]`` bool: the entries whose label survived the attack."""
        return self.observed != UNKNOWN

    @property
    def q_hat(self) -> float:
        """Share of all label entries removed (paper 003's q-hat)."""
        return float((~self.known).float().mean().item())

    @property
    def positives_kept(self) -> float:
        """Share of the true positives still observed as positive."""
        total = int(self.truth.sum())
        return float((self.observed == POSITIVE).sum().item() / total) if total else 1.0


def full_labels(y: torch.Tensor) -> PartialLabels:
    """Every label observed (no attack)."""
    y = _check_y(y)
    return PartialLabels(observed=y.to(torch.int8), truth=y, attack=None)


def targeted_q_hat(y: torch.Tensor, q: float) -> float:
    """Paper 003's formula ``(t_n + q t_p) / t`` for ``T_q`` (with the rounded positive count)."""
    y = _check_y(y)
    t_p = int(y.sum())
    return (y.numel() - t_p + round(q * t_p)) / y.numel()


def remove_labels(y: torch.Tensor, attack: LabelAttack, *, seed: int = 0) -> PartialLabels:
    """Apply ``attack`` to multi-hot labels ``y [N, L]``; deterministic given ``seed``.

    >>> y = torch.tensor([[1, 0, 1], [0, 1, 0]], dtype=torch.bool)
    >>> remove_labels(y, LabelAttack(removal=Removal.RANDOM, q=0.5)).q_hat
    0.5
    """
    y = _check_y(y)
    generator = torch.Generator().manual_seed(seed)
    observed = y.to(torch.int8).clone()
    flat = observed.view(-1)
    if attack.removal is Removal.TARGETED:
        flat[~y.view(-1)] = UNKNOWN
        positives = torch.nonzero(y.view(-1)).squeeze(1)
        drop = round(attack.q * len(positives))
        flat[positives[torch.randperm(len(positives), generator=generator)[:drop]]] = UNKNOWN
    elif attack.removal is Removal.RANDOM:
        drop = round(attack.q * flat.numel())
        flat[torch.randperm(flat.numel(), generator=generator)[:drop]] = UNKNOWN
    else:
        observed.fill_(UNKNOWN)
        # a random score per positive; the highest-scoring positive of each row is kept
        scores = torch.rand(y.shape, generator=generator).masked_fill(~y, -1.0)
        keep = scores.argmax(dim=1)
        rows = torch.nonzero(y.any(dim=1)).squeeze(1)
        observed[rows, keep[rows]] = POSITIVE
    return PartialLabels(observed=observed, truth=y, attack=attack)


def _check_y(y: torch.Tensor) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.dim() != 2:
        raise InputError("Labels must be a [N, L] tensor of multi-hot labels.")
    if y.dtype != torch.bool:
        if ((y != 0) & (y != 1)).any():
            raise InputError("Labels must be 0/1 (multi-hot); got other values.")
        y = y.bool()
    return y


__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "UNKNOWN",
    "LabelAttack",
    "PartialLabels",
    "Removal",
    "full_labels",
    "remove_labels",
    "targeted_q_hat",
]
